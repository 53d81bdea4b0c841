package postgres

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// serverCost is what the PostgreSQL server has spent so far: the WAL it
// wrote, and, when it runs on this machine, the CPU time of its processes.
// Two readings around a benchmark give its work per operation, which is
// the figure a change to the schema or the statements must move; the
// operations' rate also depends on the callers sharing the cores.
type serverCost struct {
	walBytes float64
	cpuTicks float64 // clock ticks, summed over every postgres process; 0 when none is local
}

func readServerCost(tb testing.TB, url string) serverCost {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	var c serverCost
	if err := conn.QueryRow(context.Background(),
		`SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::float8`).Scan(&c.walBytes); err != nil {
		tb.Fatal(err)
	}
	c.cpuTicks = postgresCPUTicks()
	return c
}

// postgresCPUTicks sums utime and stime of the processes named postgres,
// backends and background writers alike, from /proc.
func postgresCPUTicks() float64 {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks float64
	for _, path := range stats {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended meanwhile
		}
		stat := string(raw)
		open, closing := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
		if open < 0 || closing < open || stat[open+1:closing] != "postgres" {
			continue
		}
		// After the name: state, then fields 4 on; utime and stime are
		// fields 14 and 15.
		fields := strings.Fields(stat[closing+1:])
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseFloat(fields[11], 64)
		stime, _ := strconv.ParseFloat(fields[12], 64)
		ticks += utime + stime
	}
	return ticks
}

// reportServerCost reports the server's WAL bytes and CPU microseconds per
// operation since before, for n operations.
func reportServerCost(b *testing.B, url string, before serverCost, n int) {
	after := readServerCost(b, url)
	b.ReportMetric((after.walBytes-before.walBytes)/float64(n), "WAL-B/order")
	if after.cpuTicks > 0 {
		// Linux counts 100 ticks a second (USER_HZ) on every architecture Go runs on.
		b.ReportMetric((after.cpuTicks-before.cpuTicks)*1e4/float64(n), "pg-µs/order")
	}
}
