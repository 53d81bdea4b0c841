package memory

// ranks counts the occupied places of a line that only grows at the back,
// so that a shopper's position, and the k-th shopper waiting, are found in
// O(log n) however long the line: a Fenwick tree over place numbers,
// 1-based, holding 1 for an occupied place and 0 for a freed one.
type ranks struct {
	tree []int64 // tree[0] unused
}

// push adds an occupied place at the back and returns its number.
func (r *ranks) push() int {
	if len(r.tree) == 0 {
		r.tree = append(r.tree, 0)
	}
	i := len(r.tree)
	// The new node covers the places (i - lowbit(i), i]: the ones before
	// it, already counted, plus itself.
	r.tree = append(r.tree, 1+r.count(i-1)-r.count(i-(i&-i)))
	return i
}

// free marks place i as no longer occupied.
func (r *ranks) free(i int) {
	for ; i < len(r.tree); i += i & -i {
		r.tree[i]--
	}
}

// count returns how many of the places 1..i are occupied.
func (r *ranks) count(i int) int64 {
	var n int64
	for ; i > 0; i -= i & -i {
		n += r.tree[i]
	}
	return n
}

// kth returns the place number of the k-th occupied place (1-based); k
// must be between 1 and the number occupied.
func (r *ranks) kth(k int64) int {
	n := len(r.tree) - 1
	step := 1
	for step*2 <= n {
		step *= 2
	}
	pos := 0
	for ; step > 0; step /= 2 {
		if next := pos + step; next <= n && r.tree[next] < k {
			pos = next
			k -= r.tree[next]
		}
	}
	return pos + 1
}
