package flashsale_test

import (
	"slices"
	"testing"

	"github.com/flashsale/flashsale"
)

// A draw's places in entry order are its order's, each entry with its
// place in the draw, sorted by entry id.
func TestPlacesInEntryOrder(t *testing.T) {
	order := []string{"c", "a", "d", "b"}
	got := flashsale.PlacesInEntryOrder(order)
	want := []flashsale.Place{{EntryID: "a", Rank: 2}, {EntryID: "b", Rank: 4}, {EntryID: "c", Rank: 1}, {EntryID: "d", Rank: 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("places %v, want %v", got, want)
	}
	if !slices.Equal(order, []string{"c", "a", "d", "b"}) {
		t.Errorf("the order was changed: %v", order)
	}
	if got := flashsale.PlacesInEntryOrder(nil); len(got) != 0 {
		t.Errorf("an empty draw has places %v", got)
	}
}
