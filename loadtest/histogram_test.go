package loadtest

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// withinPrecision reports whether got is want to the histogram's 0.1 %
// relative precision (plus one microsecond for the smallest values).
func withinPrecision(got, want time.Duration) bool {
	tolerance := want/1000 + time.Microsecond
	return got >= want-tolerance && got <= want+tolerance
}

func TestHistogramUniformQuantiles(t *testing.T) {
	h := NewHistogram()
	for v := 1; v <= 10000; v++ {
		h.Record(time.Duration(v) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 5000 * time.Microsecond},
		{0.9, 9000 * time.Microsecond},
		{0.99, 9900 * time.Microsecond},
		{0.999, 9990 * time.Microsecond},
		{1, 10000 * time.Microsecond},
		{0, 1 * time.Microsecond},
	} {
		if got := h.Quantile(c.q); !withinPrecision(got, c.want) {
			t.Errorf("Quantile(%v) = %v, want %v within 0.1%%", c.q, got, c.want)
		}
	}
	if h.Count() != 10000 {
		t.Errorf("Count = %d, want 10000", h.Count())
	}
	if h.Max() != 10*time.Millisecond || h.Min() != time.Microsecond {
		t.Errorf("Min, Max = %v, %v, want 1µs, 10ms", h.Min(), h.Max())
	}
	if want := 5000500 * time.Nanosecond; !withinPrecision(h.Mean(), want) {
		t.Errorf("Mean = %v, want %v", h.Mean(), want)
	}
}

func TestHistogramSingleValue(t *testing.T) {
	h := NewHistogram()
	h.Record(1234567 * time.Microsecond)
	for _, q := range []float64{0, 0.5, 0.99, 0.999, 1} {
		if got := h.Quantile(q); got != 1234567*time.Microsecond {
			t.Errorf("Quantile(%v) = %v, want the single sample exactly", q, got)
		}
	}
}

func TestHistogramEmpty(t *testing.T) {
	h := NewHistogram()
	if h.Count() != 0 || h.Quantile(0.99) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Errorf("empty histogram: count %d p99 %v max %v min %v mean %v, want all zero",
			h.Count(), h.Quantile(0.99), h.Max(), h.Min(), h.Mean())
	}
}

func TestHistogramBeyondRangeKeepsExactMax(t *testing.T) {
	h := NewHistogram()
	h.Record(time.Millisecond)
	h.Record(5 * time.Minute)
	if h.Max() != 5*time.Minute {
		t.Errorf("Max = %v, want 5m", h.Max())
	}
	if got := h.Quantile(1); got < time.Minute {
		t.Errorf("Quantile(1) = %v, want at least the 60 s ceiling", got)
	}
}

// TestHistogramAgainstSortedSamples compares quantiles of a heavy-tailed
// random sample with the exact order statistics.
func TestHistogramAgainstSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	samples := make([]time.Duration, 100000)
	for i := range samples {
		samples[i] = time.Duration(rng.ExpFloat64()*2000+50) * time.Microsecond
		h.Record(samples[i])
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := samples[int(q*float64(len(samples)))-1]
		if got := h.Quantile(q); !withinPrecision(got, want) {
			t.Errorf("Quantile(%v) = %v, exact order statistic %v", q, got, want)
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	low, high, all := NewHistogram(), newHistogram(time.Minute, 2), NewHistogram()
	for v := 1; v <= 1000; v++ {
		d := time.Duration(v) * time.Microsecond
		low.Record(d)
		all.Record(d)
	}
	for v := 1001; v <= 2000; v++ {
		d := time.Duration(v) * time.Microsecond
		high.Record(d)
		all.Record(d)
	}
	low.Merge(high)
	if low.Count() != 2000 || low.Max() != all.Max() || low.Min() != all.Min() || low.Mean() != all.Mean() {
		t.Fatalf("merged count/min/max/mean %d %v %v %v, want %d %v %v %v",
			low.Count(), low.Min(), low.Max(), low.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
	// The merged-in half had two significant digits, so allow 1 %.
	for _, q := range []float64{0.25, 0.5, 0.75, 0.99} {
		got, want := low.Quantile(q), all.Quantile(q)
		if diff := got - want; diff < -want/100 || diff > want/100 {
			t.Errorf("merged Quantile(%v) = %v, want %v within 1%%", q, got, want)
		}
	}
}
