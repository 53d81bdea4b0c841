package loadtest

import (
	"bytes"
	"encoding/xml"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// svgChart is what the tests read of a chart.
type svgChart struct {
	Label string    `xml:"aria-label,attr"`
	Rects []svgRect `xml:"rect"`
	Paths []svgPath `xml:"path"`
}

type svgRect struct {
	Y      float64 `xml:"y,attr"`
	Height float64 `xml:"height,attr"`
	Fill   string  `xml:"fill,attr"`
	Class  string  `xml:"class,attr"`
}

type svgPath struct {
	D      string `xml:"d,attr"`
	Stroke string `xml:"stroke,attr"`
}

// points returns the path's points, from "M1.0 2.0 L3.0 4.0".
func (p svgPath) points(t *testing.T) [][2]float64 {
	t.Helper()
	fields := strings.Fields(p.D)
	var points [][2]float64
	for i := 0; i+1 < len(fields); i += 2 {
		x, errX := strconv.ParseFloat(strings.TrimLeft(fields[i], "ML"), 64)
		y, errY := strconv.ParseFloat(fields[i+1], 64)
		if errX != nil || errY != nil {
			t.Fatalf("path %q: %v %v", p.D, errX, errY)
		}
		points = append(points, [2]float64{x, y})
	}
	return points
}

var svgElement = regexp.MustCompile(`(?s)<svg.*?</svg>`)

// charts renders r and parses its charts by title.
func charts(t *testing.T, r *Report) map[string]svgChart {
	t.Helper()
	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	out := map[string]svgChart{}
	for _, svg := range svgElement.FindAllString(page.String(), -1) {
		var c svgChart
		if err := xml.Unmarshal([]byte(svg), &c); err != nil {
			t.Fatalf("chart is not well-formed: %v\n%s", err, svg)
		}
		out[c.Label] = c
	}
	return out
}

const (
	stockTitle        = "Units reserved and paid since traffic start"
	distributionTitle = "Latency of the place-order answers"
)

// chartReport is a herd of 10 units over three seconds whose place-order
// answers fall in four latency buckets.
func chartReport() *Report {
	return &Report{
		Scenario: ScenarioHerd, TotalUnits: 10,
		Timeline: []TimelineSecond{
			{Second: 0, Requests: 20, Reservations: 4},
			{Second: 1, Requests: 10, Reservations: 5, Paid: 3},
			{Second: 2, Requests: 5, Reservations: 1, Paid: 4},
		},
		Endpoints: []EndpointReport{
			{
				Endpoint:        endpointPay,
				LatencyBoundsMs: []float64{1, 1.26},
				Outcomes:        []OutcomeReport{{Outcome: "200", Status: 200, LatencyCounts: []int64{7}}},
			},
			{
				Endpoint:        endpointPlaceOrder,
				LatencyBoundsMs: []float64{latencyBucketBoundMs(30), latencyBucketBoundMs(31), latencyBucketBoundMs(32), latencyBucketBoundMs(33), latencyBucketBoundMs(34)},
				Outcomes: []OutcomeReport{
					{Outcome: "409 sold_out", Status: 409, Code: "sold_out", LatencyCounts: []int64{0, 5, 7, 0}},
					{Outcome: "201", Status: 201, LatencyCounts: []int64{2, 3, 0, 0}},
					{Outcome: "error timeout", LatencyCounts: []int64{0, 0, 0, 1}},
					{Outcome: "429 rate_limited", Status: 429, Code: "rate_limited", LatencyCounts: []int64{0, 0, 0, 0}},
				},
			},
		},
	}
}

// The latency distribution has a bar for each kind of answer in each
// bucket that holds some, stacked from the 201s up, each as high as its
// answers are many.
func TestHTMLLatencyDistribution(t *testing.T) {
	chart, ok := charts(t, chartReport())[distributionTitle]
	if !ok {
		t.Fatalf("no chart %q", distributionTitle)
	}
	var bars, legend []svgRect
	for _, r := range chart.Rects {
		switch r.Class {
		case "bar":
			bars = append(bars, r)
		case "":
			legend = append(legend, r)
		}
	}
	green, grey, red := answerClasses[0].color, answerClasses[1].color, answerClasses[3].color
	// Bucket by bucket: 201s 2; 201s 3 and sold_out 5 on them; sold_out
	// 7; a timeout.
	wantFills := []string{green, green, grey, grey, red}
	wantCounts := []float64{2, 3, 5, 7, 1}
	if len(bars) != len(wantFills) {
		t.Fatalf("%d bars, want %d: %+v", len(bars), len(wantFills), bars)
	}
	perAnswer := bars[0].Height / wantCounts[0]
	for i, bar := range bars {
		if bar.Fill != wantFills[i] || math.Abs(bar.Height-wantCounts[i]*perAnswer) > 0.2 {
			t.Errorf("bar %d: %s, %.1f high; want %s, %.1f high (%v answers)", i, bar.Fill, bar.Height, wantFills[i], wantCounts[i]*perAnswer, wantCounts[i])
		}
	}
	if math.Abs(bars[2].Y+bars[2].Height-bars[1].Y) > 0.2 {
		t.Errorf("the sold_out bar (y %.1f, %.1f high) does not sit on the 201s' (y %.1f)", bars[2].Y, bars[2].Height, bars[1].Y)
	}
	// 201s, sold_out and errors; no 429, which never came.
	if len(legend) != 3 || legend[0].Fill != green || legend[1].Fill != grey || legend[2].Fill != red {
		t.Errorf("legend %+v, want the 201s', sold_out's and errors' colours", legend)
	}
}

// The stock chart has a point at the start and at the end of every second
// of each series: the units reserved and paid so far, and the total.
func TestHTMLStockOverTime(t *testing.T) {
	chart, ok := charts(t, chartReport())[stockTitle]
	if !ok {
		t.Fatalf("no chart %q", stockTitle)
	}
	if len(chart.Paths) != 3 {
		t.Fatalf("%d series, want total, reserved and paid", len(chart.Paths))
	}
	total, reserved, paid := chart.Paths[0].points(t), chart.Paths[1].points(t), chart.Paths[2].points(t)
	for name, points := range map[string][][2]float64{"total": total, "reserved": reserved, "paid": paid} {
		if len(points) != 4 {
			t.Errorf("%s has %d points, want 4", name, len(points))
		}
	}
	if len(reserved) != 4 || len(paid) != 4 || len(total) != 4 {
		return
	}
	// Reserved 4, 9, 10 of 10; paid 0, 3, 7: on a linear axis from 0,
	// the heights above the start's are in those proportions.
	zero := reserved[0][1]
	unit := (zero - total[0][1]) / 10
	for i, want := range []float64{0, 4, 9, 10} {
		if got := (zero - reserved[i][1]) / unit; math.Abs(got-want) > 0.05 {
			t.Errorf("reserved point %d at %.2f units, want %v", i, got, want)
		}
	}
	for i, want := range []float64{0, 0, 3, 7} {
		if got := (zero - paid[i][1]) / unit; math.Abs(got-want) > 0.05 {
			t.Errorf("paid point %d at %.2f units, want %v", i, got, want)
		}
	}
}

// A run that reserved nothing with a 201 has no stock chart, and one that
// never placed an order no latency distribution.
func TestHTMLChartsNeedTheirData(t *testing.T) {
	r := chartReport()
	for i := range r.Timeline {
		r.Timeline[i].Reservations = 0
	}
	r.Endpoints = r.Endpoints[:1] // pay only
	got := charts(t, r)
	for _, title := range []string{stockTitle, distributionTitle} {
		if _, ok := got[title]; ok {
			t.Errorf("chart %q drawn without its data", title)
		}
	}
	if _, ok := got["Answers per second"]; !ok {
		t.Errorf("the throughput chart is gone: %v", got)
	}
}
