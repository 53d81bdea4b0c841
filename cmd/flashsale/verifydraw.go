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
	queue := fs.Bool("queue", false, "check the waiting room's pre-queue draw instead of a lottery's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *saleID == "" {
		return errors.New("verify-draw: --sale is required")
	}
	v := verifier{ctx: ctx, client: &nethttp.Client{Timeout: 30 * time.Second}}
	if *queue {
		return v.queue(*base, *saleID, stdout)
	}
	return v.lottery(*base, *saleID, stdout)
}

// verifier fetches a service's public documents.
type verifier struct {
	ctx    context.Context
	client *nethttp.Client
}

// drawDocument is what the draw documents of the pre-queue and of a
// lottery share; a lottery's lists its items apart.
type drawDocument struct {
	Algorithm     string `json:"algorithm"`
	Commitment    string `json:"commitment"`
	Status        string `json:"status"`
	Seed          string `json:"seed"`
	EntriesDigest string `json:"entries_digest"`
	EntryCount    int    `json:"entry_count"`
	EntriesURL    string `json:"entries_url"`
	Items         []struct {
		ItemID        string `json:"item_id"`
		EntriesDigest string `json:"entries_digest"`
		EntryCount    int    `json:"entry_count"`
		EntriesURL    string `json:"entries_url"`
	} `json:"items"`
}

// document fetches the draw document at base's path and checks that it is
// a drawn flashsale-draw-v1.
func (v verifier) document(base string, path ...string) (string, drawDocument, error) {
	var d drawDocument
	documentURL, err := url.JoinPath(base, path...)
	if err != nil {
		return "", d, fmt.Errorf("verify-draw: --url: %w", err)
	}
	body, err := fetch(v.ctx, v.client, documentURL)
	if err != nil {
		return "", d, err
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return "", d, fmt.Errorf("verify-draw: %s is not a draw document: %w", documentURL, err)
	}
	switch {
	case d.Algorithm != "flashsale-draw-v1":
		return "", d, fmt.Errorf("verify-draw: algorithm %q; this command checks flashsale-draw-v1", d.Algorithm)
	case d.Status != "drawn":
		return "", d, fmt.Errorf("verify-draw: not drawn yet (status %q): the seed is revealed with the draw; commitment %s", d.Status, d.Commitment)
	}
	return documentURL, d, nil
}

// order fetches the entries listed at entriesURL (relative to the
// document's URL) and returns the draw order they and the seed make, once
// they match the commitment, the digest and the count.
func (v verifier) order(documentURL, entriesURL string, p draw.Published) ([]string, error) {
	ref, err := url.Parse(entriesURL)
	if err != nil {
		return nil, fmt.Errorf("verify-draw: entries_url %q: %w", entriesURL, err)
	}
	listed, err := fetch(v.ctx, v.client, must(url.Parse(documentURL)).ResolveReference(ref).String())
	if err != nil {
		return nil, err
	}
	p.Entries = strings.Fields(string(listed))
	order, err := draw.Verify(p)
	if err != nil {
		return nil, fmt.Errorf("verify-draw: the draw does not match: %w", err)
	}
	return order, nil
}

// queue checks the waiting room's pre-queue draw and prints its order.
func (v verifier) queue(base, saleID string, stdout io.Writer) error {
	documentURL, d, err := v.document(base, "flash-sales", saleID, "queue", "draw")
	if err != nil {
		return err
	}
	order, err := v.order(documentURL, d.EntriesURL, draw.Published{Commitment: d.Commitment, Seed: d.Seed,
		EntriesDigest: d.EntriesDigest, EntryCount: d.EntryCount})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "the pre-queue's draw matches: the seed is the one committed to (%s), the %d entries are the ones published (digest %s)\n",
		d.Commitment, len(order), d.EntriesDigest)
	fmt.Fprintln(stdout, "position ticket_id")
	for i, id := range order {
		fmt.Fprintf(stdout, "%d %s\n", i+1, id)
	}
	return nil
}

// lottery checks each item's draw of a lottery sale and prints its
// winners: the first total_quantity / per_user_limit of its order, the
// item's figures read from the public sale.
func (v verifier) lottery(base, saleID string, stdout io.Writer) error {
	documentURL, d, err := v.document(base, "flash-sales", saleID, "draw")
	if err != nil {
		return err
	}
	saleURL, err := url.JoinPath(base, "flash-sales", saleID)
	if err != nil {
		return fmt.Errorf("verify-draw: --url: %w", err)
	}
	body, err := fetch(v.ctx, v.client, saleURL)
	if err != nil {
		return err
	}
	var sale struct {
		Items []struct {
			ItemID        string `json:"item_id"`
			TotalQuantity int64  `json:"total_quantity"`
			PerUserLimit  int64  `json:"per_user_limit"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &sale); err != nil {
		return fmt.Errorf("verify-draw: %s is not a sale: %w", saleURL, err)
	}
	winners := make(map[string]int64, len(sale.Items))
	for _, it := range sale.Items {
		if it.PerUserLimit > 0 {
			winners[it.ItemID] = it.TotalQuantity / it.PerUserLimit
		}
	}
	fmt.Fprintf(stdout, "the seed is the one committed to before the entries opened (%s)\n", d.Commitment)
	for _, it := range d.Items {
		order, err := v.order(documentURL, it.EntriesURL, draw.Published{Commitment: d.Commitment, Seed: d.Seed,
			EntriesDigest: it.EntriesDigest, EntryCount: it.EntryCount})
		if err != nil {
			return fmt.Errorf("item %s: %w", it.ItemID, err)
		}
		won := order[:min(int64(len(order)), winners[it.ItemID])]
		fmt.Fprintf(stdout, "item %s: OK, %d entries (digest %s), %d winners; the waitlist follows in draw order\n",
			it.ItemID, len(order), it.EntriesDigest, len(won))
		for i, id := range won {
			fmt.Fprintf(stdout, "  %d %s\n", i+1, id)
		}
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
