package loadtest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLatencyBucketBounds(t *testing.T) {
	for _, c := range []struct {
		micros int64
		want   int
	}{
		{0, 0}, {1, 0}, {9, 9}, {10, 10},
		{999, 29}, {1000, 30}, {1258, 30}, {1259, 31}, // 10^3.1 = 1258.9
		{60_000_000, 77},
	} {
		if got := latencyBucket(c.micros); got != c.want {
			t.Errorf("latencyBucket(%d µs) = %d, want %d", c.micros, got, c.want)
		}
		if c.micros > 0 {
			// Back in microseconds, a bound may have lost its last bit.
			low, high := latencyBucketBoundMs(c.want)*1000, latencyBucketBoundMs(c.want+1)*1000
			if v := float64(c.micros); v < low*(1-1e-12) || v >= high {
				t.Errorf("%d µs is outside its bucket %d's bounds [%v, %v) µs", c.micros, c.want, low, high)
			}
		}
	}
}

// The endpoint's buckets run from its fastest answer's to its slowest's,
// and every outcome counts its answers in them; the timeline counts a
// payment's 200 in its second.
func TestRecorderLatencyCountsAndPaid(t *testing.T) {
	rec := newRecorder()
	origin := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rec.startTimeline(origin)
	for range 3 {
		rec.record(endpointPlaceOrder, response{status: 201}, time.Millisecond, origin.Add(100*time.Millisecond))
	}
	rec.record(endpointPlaceOrder, response{status: 409, code: "sold_out"}, 1100*time.Microsecond, origin.Add(1500*time.Millisecond))
	rec.record(endpointPlaceOrder, response{status: 409, code: "sold_out"}, 10*time.Millisecond, origin.Add(1500*time.Millisecond))
	rec.record(endpointPay, response{status: 200}, 5*time.Millisecond, origin.Add(1600*time.Millisecond))
	rec.record(endpointPay, response{status: 502}, 5*time.Millisecond, origin.Add(1700*time.Millisecond))

	endpoints, _, _ := rec.endpointReports()
	var placeOrder *EndpointReport
	for i := range endpoints {
		if endpoints[i].Endpoint == endpointPlaceOrder {
			placeOrder = &endpoints[i]
		}
	}
	if placeOrder == nil {
		t.Fatalf("no place_order in %+v", endpoints)
	}
	// Buckets 30 (1 ms) to 40 (10 ms): eleven buckets, twelve bounds.
	if b := placeOrder.LatencyBoundsMs; len(b) != 12 || b[0] != 1 || b[10] != 10 {
		t.Fatalf("bounds %v, want 12 from 1 ms, the 11th 10 ms", b)
	}
	want := map[string][]int64{
		"201":          {3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"409 sold_out": {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
	}
	if len(placeOrder.Outcomes) != len(want) {
		t.Errorf("outcomes %+v, want %d", placeOrder.Outcomes, len(want))
	}
	for _, o := range placeOrder.Outcomes {
		if !reflect.DeepEqual(o.LatencyCounts, want[o.Outcome]) {
			t.Errorf("%s counts %v, want %v", o.Outcome, o.LatencyCounts, want[o.Outcome])
		}
	}

	timeline := rec.timeline()
	if len(timeline) != 2 {
		t.Fatalf("timeline of %d seconds, want 2", len(timeline))
	}
	if timeline[0].Reservations != 3 || timeline[0].Paid != 0 || timeline[1].Paid != 1 || timeline[1].Errors != 1 {
		t.Errorf("timeline %+v: want 3 reservations in second 0, one payment (and one error) in second 1", timeline)
	}
}

// The report's latency buckets and payments per second come back from its
// JSON as they went in.
func TestReportJSONRoundTrip(t *testing.T) {
	in := &Report{
		Scenario: ScenarioHerd, TotalUnits: 10,
		Endpoints: []EndpointReport{{
			Endpoint:        endpointPlaceOrder,
			LatencySummary:  LatencySummary{Count: 6, P50Ms: 1.2},
			LatencyBoundsMs: []float64{latencyBucketBoundMs(30), latencyBucketBoundMs(31), latencyBucketBoundMs(32)},
			Outcomes: []OutcomeReport{
				{Outcome: "201", Status: 201, LatencySummary: LatencySummary{Count: 4}, LatencyCounts: []int64{3, 1}},
				{Outcome: "409 sold_out", Status: 409, Code: "sold_out", LatencySummary: LatencySummary{Count: 2}, LatencyCounts: []int64{0, 2}},
			},
		}},
		Timeline: []TimelineSecond{{Second: 0, Requests: 6, Reservations: 4, Paid: 0}, {Second: 1, Requests: 2, Paid: 2}},
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, in); err != nil {
		t.Fatal(err)
	}
	var out Report
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.Endpoints, in.Endpoints) {
		t.Errorf("endpoints came back as %+v, want %+v", out.Endpoints, in.Endpoints)
	}
	if !reflect.DeepEqual(out.Timeline, in.Timeline) {
		t.Errorf("timeline came back as %+v, want %+v", out.Timeline, in.Timeline)
	}
}

// reportSays renders report as text and as HTML and checks that each says
// what it should: every one of text in the text summary, every one of
// html in the page.
func reportSays(t *testing.T, report *Report, text, html []string) {
	t.Helper()
	var summary, page bytes.Buffer
	if err := WriteText(&summary, report); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&page, report); err != nil {
		t.Fatal(err)
	}
	for _, want := range text {
		if !strings.Contains(summary.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, summary.String())
		}
	}
	for _, want := range html {
		if !strings.Contains(page.String(), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
}
