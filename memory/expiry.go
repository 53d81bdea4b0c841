package memory

import (
	"container/heap"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
)

// reservation is a live reservation as the item keeps it.
type reservation struct {
	flashsale.Reservation
	// heapIndex is the reservation's position in its item's expiry heap, so
	// that Confirm and Release remove it in O(log n).
	heapIndex int
}

// compareDeadlines orders reservations earliest deadline first. Ties fall
// back to the order id so that Expiring answers the same way every time.
func compareDeadlines(a, b *flashsale.Reservation) int {
	if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
		return c
	}
	return strings.Compare(a.OrderID, b.OrderID)
}

// expiryHeap is an item's live reservations, a container/heap min-heap by
// deadline.
type expiryHeap []*reservation

func (h expiryHeap) Len() int { return len(h) }

func (h expiryHeap) Less(i, j int) bool {
	return compareDeadlines(&h[i].Reservation, &h[j].Reservation) < 0
}

func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = i
	h[j].heapIndex = j
}

func (h *expiryHeap) Push(x any) {
	r := x.(*reservation)
	r.heapIndex = len(*h)
	*h = append(*h, r)
}

func (h *expiryHeap) Pop() any {
	old := *h
	last := old[len(old)-1]
	old[len(old)-1] = nil // let the settled reservation be collected
	*h = old[:len(old)-1]
	return last
}

// due returns up to limit reservations whose deadline is at or before now,
// earliest first, leaving the heap as it is. It walks the heap as a tree,
// always expanding the earliest node of the frontier: no child is earlier
// than its parent, so the walk visits O(limit) nodes however many are due.
func (h expiryHeap) due(now time.Time, limit int) []flashsale.Reservation {
	if len(h) == 0 {
		return nil
	}
	next := &frontier{heap: h, nodes: []int{0}}
	var due []flashsale.Reservation
	for len(due) < limit && next.Len() > 0 {
		i := heap.Pop(next).(int)
		if h[i].ExpiresAt.After(now) {
			break
		}
		due = append(due, h[i].Reservation)
		// container/heap keeps the children of node i at 2i+1 and 2i+2.
		for _, child := range [...]int{2*i + 1, 2*i + 2} {
			if child < len(h) {
				heap.Push(next, child)
			}
		}
	}
	return due
}

// frontier is a min-heap of positions in an expiryHeap, by deadline.
type frontier struct {
	heap  expiryHeap
	nodes []int
}

func (f *frontier) Len() int           { return len(f.nodes) }
func (f *frontier) Less(i, j int) bool { return f.heap.Less(f.nodes[i], f.nodes[j]) }
func (f *frontier) Swap(i, j int)      { f.nodes[i], f.nodes[j] = f.nodes[j], f.nodes[i] }
func (f *frontier) Push(x any)         { f.nodes = append(f.nodes, x.(int)) }

func (f *frontier) Pop() any {
	last := f.nodes[len(f.nodes)-1]
	f.nodes = f.nodes[:len(f.nodes)-1]
	return last
}
