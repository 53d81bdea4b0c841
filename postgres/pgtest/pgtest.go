// Package pgtest gives tests a PostgreSQL server from the environment and
// a schema of their own on it.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flashsale/flashsale/internal/testenv"
)

// URL returns the server the tests use, from FLASHSALE_TEST_POSTGRES_URL,
// or else PostgreSQL's standard port where a server answers with the
// official image's defaults (user and password postgres). It skips the
// test where neither has one (a laptop without PostgreSQL), unless
// FLASHSALE_TEST_REQUIRE_SERVICES=1 (CI), where that fails it.
func URL(tb testing.TB) string {
	tb.Helper()
	return testenv.Server(tb, "FLASHSALE_TEST_POSTGRES_URL", "PostgreSQL", testenv.Standard{
		URL: "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable",
		Answer: func(ctx context.Context, url string) error {
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				return err
			}
			return conn.Close(ctx)
		}})
}

// Schema creates a schema of its own for the test and returns the
// server's URL with the schema as its search_path: tests of parallel
// packages and runs do not see each other's data, and every test migrates
// from scratch. The schema is dropped when the test ends.
func Schema(tb testing.TB) string {
	tb.Helper()
	server := URL(tb)
	schema := "fs_test_" + strings.ToLower(rand.Text()[:12])
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(tb.Context(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		// The test's context is done by now; the drop needs one of its own.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithParam(tb, server, "search_path", schema)
}

// WithParam returns the connection string conn (a URL or key=value
// string) with the run-time parameter name set to value.
func WithParam(tb testing.TB, conn, name, value string) string {
	tb.Helper()
	if !strings.Contains(conn, "://") {
		return conn + " " + name + "=" + value
	}
	u, err := url.Parse(conn)
	if err != nil {
		tb.Fatalf("FLASHSALE_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}
