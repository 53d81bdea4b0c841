package loadtest

import (
	"math"
	"math/bits"
	"time"
)

// Histogram is a log-linear latency histogram in the manner of HdrHistogram.
// Values are kept in whole microseconds. Each power-of-two range is cut into
// equal sub-buckets, so every recorded value is known to a fixed relative
// precision (0.1 % with three significant digits) however large it is, and
// the memory needed does not grow with the number of samples. Values above
// the highest trackable one are counted at that value; Min, Max and Mean
// stay exact regardless.
//
// A Histogram is not safe for concurrent use: callers serialise access.
type Histogram struct {
	subBucketHalfCountMagnitude uint
	subBucketHalfCount          int64
	subBucketMask               int64
	highestTrackable            int64
	// chunks[i] holds half a bucket's counts (chunk 0 and 1 together form
	// bucket 0, chunk b+1 is the upper half of bucket b). A chunk is allocated
	// on its first sample: latencies cluster in a few powers of two, so most
	// chunks of a histogram stay nil, which keeps thousands of per-second
	// histograms affordable.
	chunks      [][]int64
	chunkTotals []int64
	count       int64
	sumMicros   int64
	minMicros   int64
	maxMicros   int64
}

// NewHistogram returns a latency histogram covering 1 µs to 60 s with three
// significant digits.
func NewHistogram() *Histogram {
	return newHistogram(time.Minute, 3)
}

// newHistogram returns a histogram tracking 0 µs to highest with the given
// number of significant decimal digits (1 to 5).
func newHistogram(highest time.Duration, significantDigits int) *Histogram {
	largestWithSingleUnitResolution := 2 * int64(math.Pow10(significantDigits))
	subBucketCountMagnitude := uint(bits.Len64(uint64(largestWithSingleUnitResolution - 1)))
	halfMagnitude := subBucketCountMagnitude - 1
	subBucketCount := int64(1) << subBucketCountMagnitude
	highestMicros := max(highest.Microseconds(), subBucketCount)

	bucketCount := 1
	for smallestUntrackable := subBucketCount; smallestUntrackable <= highestMicros; smallestUntrackable <<= 1 {
		bucketCount++
	}
	return &Histogram{
		subBucketHalfCountMagnitude: halfMagnitude,
		subBucketHalfCount:          subBucketCount / 2,
		subBucketMask:               subBucketCount - 1,
		highestTrackable:            highestMicros,
		chunks:                      make([][]int64, bucketCount+1),
		chunkTotals:                 make([]int64, bucketCount+1),
		minMicros:                   math.MaxInt64,
	}
}

// Record adds one latency sample. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	h.recordMicros(max(d.Microseconds(), 0), 1)
}

func (h *Histogram) recordMicros(v, n int64) {
	h.count += n
	h.sumMicros += v * n
	h.minMicros = min(h.minMicros, v)
	h.maxMicros = max(h.maxMicros, v)

	index := h.countsIndex(min(v, h.highestTrackable))
	chunk := index >> h.subBucketHalfCountMagnitude
	if h.chunks[chunk] == nil {
		h.chunks[chunk] = make([]int64, h.subBucketHalfCount)
	}
	h.chunks[chunk][index&(h.subBucketHalfCount-1)] += n
	h.chunkTotals[chunk] += n
}

// countsIndex maps a value to its position in the flat counts layout of
// HdrHistogram: bucket b covers [2^b * subBucketCount/2, 2^(b+1) *
// subBucketCount/2) with a resolution of 2^b, bucket 0 starts at zero.
func (h *Histogram) countsIndex(v int64) int64 {
	bucket := int64(bits.Len64(uint64(v|h.subBucketMask))) - int64(h.subBucketHalfCountMagnitude) - 1
	subBucket := v >> bucket
	return (bucket+1)<<h.subBucketHalfCountMagnitude + subBucket - h.subBucketHalfCount
}

// valueRange returns the lowest value that maps to a counts index and the
// width of the range of values sharing it.
func (h *Histogram) valueRange(index int64) (lowest, width int64) {
	bucket := index>>h.subBucketHalfCountMagnitude - 1
	subBucket := index&(h.subBucketHalfCount-1) + h.subBucketHalfCount
	if bucket < 0 {
		subBucket -= h.subBucketHalfCount
		bucket = 0
	}
	return subBucket << bucket, int64(1) << bucket
}

// Merge adds every sample of other to h. The two may differ in range and
// precision; other's samples are then re-recorded at their bucket's lowest
// value, as HdrHistogram does.
func (h *Histogram) Merge(other *Histogram) {
	if other.count == 0 {
		return
	}
	minMicros, maxMicros, sumMicros := min(h.minMicros, other.minMicros), max(h.maxMicros, other.maxMicros), h.sumMicros+other.sumMicros
	other.visit(h.recordMicros)
	h.minMicros, h.maxMicros, h.sumMicros = minMicros, maxMicros, sumMicros
}

// visit calls f with every range of values holding samples, lowest first:
// the range's lowest value in microseconds and its count.
func (h *Histogram) visit(f func(lowestMicros, count int64)) {
	for chunkIndex, chunk := range h.chunks {
		if h.chunkTotals[chunkIndex] == 0 {
			continue
		}
		for offset, n := range chunk {
			if n != 0 {
				lowest, _ := h.valueRange(int64(chunkIndex)<<h.subBucketHalfCountMagnitude + int64(offset))
				f(lowest, n)
			}
		}
	}
}

// Quantile returns the smallest recorded value that at least a fraction q of
// the samples do not exceed (q = 0.99 is the 99th percentile), to the
// histogram's precision; a value's bucket is reported by its highest value so
// the estimate errs on the slow side. It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	// The epsilon keeps float error in q*count (0.999*100000 is a hair over
	// 99900) from skipping a sample.
	target := max(int64(math.Ceil(min(max(q, 0), 1)*float64(h.count)-1e-9)), 1)
	var seen int64
	for chunkIndex, chunk := range h.chunks {
		if seen+h.chunkTotals[chunkIndex] < target {
			seen += h.chunkTotals[chunkIndex]
			continue
		}
		for offset, n := range chunk {
			seen += n
			if seen >= target {
				lowest, width := h.valueRange(int64(chunkIndex)<<h.subBucketHalfCountMagnitude + int64(offset))
				return micros(min(max(lowest+width-1, h.minMicros), h.maxMicros))
			}
		}
	}
	return h.Max()
}

// Count returns the number of samples.
func (h *Histogram) Count() int64 { return h.count }

// Max returns the largest sample exactly, or 0 when there is none.
func (h *Histogram) Max() time.Duration { return micros(h.maxMicros) }

// Min returns the smallest sample exactly, or 0 when there is none.
func (h *Histogram) Min() time.Duration {
	if h.count == 0 {
		return 0
	}
	return micros(h.minMicros)
}

// Mean returns the exact arithmetic mean of the samples, or 0.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return micros(h.sumMicros / h.count)
}

func micros(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
