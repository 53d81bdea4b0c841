package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flashsale/flashsale/draw"
)

// verifyDraw recomputes a published draw from the public documents alone,
// as any customer may: the seed against the commitment published before
// anyone entered, the listed entries against their digest and count, and
// the order they make. It exits non-zero when any of it does not match.
func verifyDraw(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flashsale verify-draw", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://localhost:8080", "the service's base URL")
	saleID := fs.String("sale", "", "the sale's id")
	queue := fs.Bool("queue", false, "check the waiting room's pre-queue draw")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *saleID == "":
		return errors.New("verify-draw: --sale is required")
	case !*queue:
		return errors.New("verify-draw: only the waiting room's pre-queue draw (--queue) can be checked: lottery sales are not available yet")
	}
	client := &nethttp.Client{Timeout: 30 * time.Second}
	documentURL, err := url.JoinPath(*base, "flash-sales", *saleID, "queue", "draw")
	if err != nil {
		return fmt.Errorf("verify-draw: --url: %w", err)
	}
	var document struct {
		Algorithm     string `json:"algorithm"`
		Commitment    string `json:"commitment"`
		Status        string `json:"status"`
		Seed          string `json:"seed"`
		EntriesDigest string `json:"entries_digest"`
		EntryCount    int    `json:"entry_count"`
		EntriesURL    string `json:"entries_url"`
	}
	body, err := fetch(ctx, client, documentURL)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, &document); err != nil {
		return fmt.Errorf("verify-draw: %s is not a draw document: %w", documentURL, err)
	}
	switch {
	case document.Algorithm != "flashsale-draw-v1":
		return fmt.Errorf("verify-draw: algorithm %q; this command checks flashsale-draw-v1", document.Algorithm)
	case document.Status != "drawn":
		return fmt.Errorf("verify-draw: not drawn yet (status %q): the seed is revealed at the start of the sale; commitment %s", document.Status, document.Commitment)
	}
	entriesURL, err := url.Parse(document.EntriesURL)
	if err != nil {
		return fmt.Errorf("verify-draw: entries_url %q: %w", document.EntriesURL, err)
	}
	listed, err := fetch(ctx, client, must(url.Parse(documentURL)).ResolveReference(entriesURL).String())
	if err != nil {
		return err
	}
	entries := strings.Fields(string(listed))
	order, err := draw.Verify(draw.Published{Commitment: document.Commitment, Seed: document.Seed,
		EntriesDigest: document.EntriesDigest, EntryCount: document.EntryCount, Entries: entries})
	if err != nil {
		return fmt.Errorf("verify-draw: the draw does not match: %w", err)
	}
	fmt.Fprintf(stdout, "the pre-queue's draw matches: the seed is the one committed to (%s), the %d entries are the ones published (digest %s)\n",
		document.Commitment, len(entries), document.EntriesDigest)
	fmt.Fprintln(stdout, "position ticket_id")
	for i, id := range order {
		fmt.Fprintf(stdout, "%d %s\n", i+1, id)
	}
	return nil
}

func fetch(ctx context.Context, client *nethttp.Client, target string) ([]byte, error) {
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("verify-draw: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("verify-draw: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("verify-draw: reading %s: %w", target, err)
	}
	if resp.StatusCode != nethttp.StatusOK {
		return nil, fmt.Errorf("verify-draw: GET %s: %s: %s", target, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
