package loadtest

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// WriteHTML writes the report as one self-contained page: inline CSS and
// inline SVG charts drawn here, no script and no external asset, so it can
// be mailed or archived as is.
func WriteHTML(w io.Writer, r *Report) error {
	seconds := make([]float64, len(r.Timeline))
	series := map[string][]float64{}
	for i, s := range r.Timeline {
		seconds[i] = float64(s.Second)
		series["requests"] = append(series["requests"], float64(s.Requests))
		series["reservations"] = append(series["reservations"], float64(s.Reservations))
		series["sold_out"] = append(series["sold_out"], float64(s.SoldOut))
		series["rejected"] = append(series["rejected"], float64(s.Rejected))
		series["errors"] = append(series["errors"], float64(s.Errors))
		series["p50"] = append(series["p50"], s.P50Ms)
		series["p99"] = append(series["p99"], s.P99Ms)
		series["max"] = append(series["max"], s.MaxMs)
	}
	page := htmlPage{
		Report: r,
		ThroughputChart: lineChart("Answers per second", "per second", seconds, []chartSeries{
			{"all requests", "#1f77b4", series["requests"]},
			{"201 reservations", "#2ca02c", series["reservations"]},
			{"409 sold_out", "#7f7f7f", series["sold_out"]},
			{"429 / 503", "#ff7f0e", series["rejected"]},
			{"errors", "#d62728", series["errors"]},
		}, false),
		LatencyChart: lineChart("Latency of the requests answered in each second", "ms (log scale)", seconds, []chartSeries{
			{"p50", "#2ca02c", series["p50"]},
			{"p99", "#ff7f0e", series["p99"]},
			{"max", "#d62728", series["max"]},
		}, true),
		StockChart:         stockChart(r),
		DistributionChart:  distributionChart(r.Endpoints, endpointPlaceOrder),
		Settings:           sortedSettings(r.Settings),
		ChallengedRequests: challengedRequests(r),
	}
	if r.Queue != nil {
		page.QueueChart = queueChart(r.Queue)
	}
	return pageTemplate.Execute(w, page)
}

type htmlPage struct {
	Report             *Report
	ThroughputChart    template.HTML
	LatencyChart       template.HTML
	QueueChart         template.HTML
	StockChart         template.HTML
	DistributionChart  template.HTML
	Settings           [][2]string
	ChallengedRequests string
}

// stockChart draws the units reserved and paid since traffic start against
// the stock, a point at the end of each second from none at the start. A
// run that reserved nothing with a 201 has none: the refresh scenario sells
// nothing, and a lottery's draw reserves with no answer to count.
func stockChart(r *Report) template.HTML {
	x, reserved, paid, total := []float64{0}, []float64{0}, []float64{0}, []float64{float64(r.TotalUnits)}
	for _, s := range r.Timeline {
		x = append(x, float64(s.Second+1))
		reserved = append(reserved, reserved[len(reserved)-1]+float64(s.Reservations))
		paid = append(paid, paid[len(paid)-1]+float64(s.Paid))
		total = append(total, float64(r.TotalUnits))
	}
	if r.TotalUnits == 0 || reserved[len(reserved)-1] == 0 {
		return ""
	}
	return lineChart("Units reserved and paid since traffic start", "units", x, []chartSeries{
		{"total units", "#7f7f7f", total},
		{"reserved (201s)", "#2ca02c", reserved},
		{"paid (200s)", "#1f77b4", paid},
	}, false)
}

// answerClasses are the kinds of answer the latency distribution tells
// apart, named and coloured as in the throughput chart.
var answerClasses = []struct{ name, color string }{
	{"201 reservations", "#2ca02c"},
	{"409 sold_out", "#7f7f7f"},
	{"429 / 503", "#ff7f0e"},
	{"errors", "#d62728"},
	{"other", "#9467bd"},
}

// answerClass returns an outcome's index in answerClasses, by the rules
// the timeline counts with.
func answerClass(o OutcomeReport) int {
	switch {
	case o.Status == http.StatusCreated:
		return 0
	case o.Code == "sold_out":
		return 1
	case o.Status == http.StatusTooManyRequests || o.Status == http.StatusServiceUnavailable:
		return 2
	case o.Status == 0 || o.Status >= 500:
		return 3
	}
	return 4
}

// distributionChart draws how an endpoint's answers spread over latency: a
// bar a bucket, the kinds of answer stacked in it, on a log scale of
// latency (the buckets' own) and a linear one of answers, so that a bar's
// height is the answers it holds. An endpoint never answered has none.
func distributionChart(endpoints []EndpointReport, endpoint string) template.HTML {
	i := slices.IndexFunc(endpoints, func(e EndpointReport) bool { return e.Endpoint == endpoint })
	if i < 0 || len(endpoints[i].LatencyBoundsMs) < 2 {
		return ""
	}
	bounds := endpoints[i].LatencyBoundsMs
	counts := make([][]float64, len(answerClasses))
	for class := range counts {
		counts[class] = make([]float64, len(bounds)-1)
	}
	for _, o := range endpoints[i].Outcomes {
		for bucket, n := range o.LatencyCounts {
			counts[answerClass(o)][bucket] += float64(n)
		}
	}
	// The legend names the kinds of answer there were.
	var series []chartSeries
	for class, c := range answerClasses {
		if slices.ContainsFunc(counts[class], func(n float64) bool { return n > 0 }) {
			series = append(series, chartSeries{c.name, c.color, counts[class]})
		}
	}
	highest := 0.0
	for bucket := range len(bounds) - 1 {
		stacked := 0.0
		for _, s := range series {
			stacked += s.values[bucket]
		}
		highest = max(highest, stacked)
	}

	var b strings.Builder
	title := "Latency of the " + strings.ReplaceAll(endpoint, "_", "-") + " answers"
	writeChartHead(&b, title, series)
	yTicks, yOf := linearAxis(highest)
	writeGrid(&b, yTicks, yOf)
	logLow, logHigh := math.Log10(bounds[0]), math.Log10(bounds[len(bounds)-1])
	xOf := func(ms float64) float64 { return chartLeft + (math.Log10(ms)-logLow)/(logHigh-logLow)*plotWidth }
	// 1, 2 and 5 times each power of ten while they fit, powers of ten
	// alone over more decades.
	mantissas := []float64{1, 2, 5}
	if logHigh-logLow > 3 {
		mantissas = []float64{1}
	}
	for e := math.Floor(logLow); e <= logHigh; e++ {
		for _, m := range mantissas {
			if v := m * math.Pow(10, e); v >= bounds[0] && v <= bounds[len(bounds)-1] {
				writeXTick(&b, xOf(v), v)
			}
		}
	}
	writeAxisLabels(&b, "latency, ms (log scale)", "answers")

	for bucket := range len(bounds) - 1 {
		left, right := xOf(bounds[bucket]), xOf(bounds[bucket+1])
		stacked := 0.0
		for _, s := range series {
			n := s.values[bucket]
			if n == 0 {
				continue
			}
			top, bottom := yOf(stacked+n), yOf(stacked)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" class="bar"><title>%s: %.0f answers of %s to %s ms</title></rect>`,
				left+0.5, top, max(right-left-1, 0.5), bottom-top, s.color, html.EscapeString(s.name), n, formatTick(bounds[bucket]), formatTick(bounds[bucket+1]))
			stacked += n
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// queueChart draws the line's samples: the admissions against what the
// setting allows since the start, and the shoppers waiting. The polls,
// tens of times more, would flatten them: they are in the throughput
// chart.
func queueChart(q *QueueReport) template.HTML {
	var x, admitted, allowed, waiting []float64
	for _, s := range q.Samples {
		at := s.AtMs / 1000
		x = append(x, at)
		admitted = append(admitted, float64(s.AdmittedTotal))
		allowed = append(allowed, q.Admission.SettingPerSecond*max(at-q.SaleStartAfterMs/1000, 0))
		waiting = append(waiting, float64(s.Waiting+s.PreQueue))
	}
	return lineChart("Waiting room, seconds from the line's opening", "shoppers", x, []chartSeries{
		{"admitted (service)", "#2ca02c", admitted},
		{"setting x time since the start", "#7f7f7f", allowed},
		{"waiting + pre-queue", "#1f77b4", waiting},
	}, false)
}

func sortedSettings(settings map[string]any) [][2]string {
	out := make([][2]string, 0, len(settings))
	for k, v := range settings {
		out = append(out, [2]string{k, fmt.Sprint(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

type chartSeries struct {
	name   string
	color  string
	values []float64
}

// Chart geometry in SVG user units.
const (
	chartWidth   = 900
	chartHeight  = 300
	chartLeft    = 64
	chartRight   = 16
	chartTop     = 40
	chartBottom  = 40
	plotWidth    = chartWidth - chartLeft - chartRight
	plotHeight   = chartHeight - chartTop - chartBottom
	yTickTargets = 5
)

// lineChart draws series over x as an SVG line chart. A log scale suits
// latencies, which span orders of magnitude; points that are not positive
// cannot be drawn on it and break the line.
func lineChart(title, unit string, x []float64, series []chartSeries, logScale bool) template.HTML {
	var b strings.Builder
	writeChartHead(&b, title, series)
	if len(x) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="legend">no traffic recorded</text></svg>`, chartLeft, chartTop+plotHeight/2)
		return template.HTML(b.String())
	}

	xMax := max(x[len(x)-1], 1)
	lowest, highest := math.Inf(1), 0.0
	for _, s := range series {
		for _, v := range s.values {
			if v > 0 {
				lowest, highest = min(lowest, v), max(highest, v)
			}
		}
	}
	var yTicks []float64
	var yOf func(float64) float64
	if logScale {
		if highest == 0 {
			lowest, highest = 0.1, 1
		}
		low, high := math.Floor(math.Log10(lowest)), math.Max(math.Ceil(math.Log10(highest)), math.Floor(math.Log10(lowest))+1)
		for e := low; e <= high; e++ {
			yTicks = append(yTicks, math.Pow(10, e))
		}
		yOf = func(v float64) float64 {
			return chartTop + plotHeight - (math.Log10(v)-low)/(high-low)*plotHeight
		}
	} else {
		yTicks, yOf = linearAxis(highest)
	}
	xOf := func(v float64) float64 { return chartLeft + v/xMax*plotWidth }

	writeGrid(&b, yTicks, yOf)
	xStep := niceStep(max(xMax/10, 1)) // the timeline has whole seconds
	for v := 0.0; v <= xMax+xStep/2; v += xStep {
		writeXTick(&b, xOf(v), v)
	}
	writeAxisLabels(&b, "seconds since traffic start", unit)

	for _, s := range series {
		var path strings.Builder
		penDown := false
		for i, v := range s.values {
			if logScale && v <= 0 {
				penDown = false
				continue
			}
			command := "L"
			if !penDown {
				command = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", command, xOf(x[i]), yOf(v))
			penDown = true
		}
		fmt.Fprintf(&b, `<path d="%s" stroke="%s" class="line"/>`, strings.TrimSpace(path.String()), s.color)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// writeChartHead opens a chart: its title and a legend of its series.
func writeChartHead(b *strings.Builder, title string, series []chartSeries) {
	fmt.Fprintf(b, `<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s">`, chartWidth, chartHeight, html.EscapeString(title))
	fmt.Fprintf(b, `<text x="%d" y="18" class="title">%s</text>`, chartLeft, html.EscapeString(title))
	legendX := chartLeft
	for _, s := range series {
		fmt.Fprintf(b, `<rect x="%d" y="26" width="10" height="10" fill="%s"/><text x="%d" y="35" class="legend">%s</text>`,
			legendX, s.color, legendX+14, html.EscapeString(s.name))
		legendX += 24 + 7*len(s.name)
	}
}

// linearAxis returns the ticks of a linear y axis from 0 to at least
// highest (and 1), at a round step, and where a value goes on it.
func linearAxis(highest float64) (ticks []float64, yOf func(float64) float64) {
	step := niceStep(max(highest, 1) / yTickTargets)
	top := math.Ceil(max(highest, 1)/step) * step
	for v := 0.0; v <= top+step/2; v += step {
		ticks = append(ticks, v)
	}
	return ticks, func(v float64) float64 { return chartTop + plotHeight - v/top*plotHeight }
}

// writeGrid draws the y axis's ticks across the plot.
func writeGrid(b *strings.Builder, ticks []float64, yOf func(float64) float64) {
	for _, tick := range ticks {
		y := yOf(tick)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`,
			chartLeft, chartLeft+plotWidth, y, y, chartLeft-6, y+4, formatTick(tick))
	}
}

func writeXTick(b *strings.Builder, x, v float64) {
	fmt.Fprintf(b, `<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s</text>`, x, chartTop+plotHeight+16, formatTick(v))
}

// writeAxisLabels names the axes and frames the plot.
func writeAxisLabels(b *strings.Builder, xLabel, yLabel string) {
	fmt.Fprintf(b, `<text x="%d" y="%d" class="tick" text-anchor="middle">%s</text>`, chartLeft+plotWidth/2, chartHeight-4, html.EscapeString(xLabel))
	fmt.Fprintf(b, `<text x="12" y="%d" class="tick" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`,
		chartTop+plotHeight/2, chartTop+plotHeight/2, html.EscapeString(yLabel))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" class="frame"/>`, chartLeft, chartTop, plotWidth, plotHeight)
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	magnitude := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*magnitude >= raw {
			return m * magnitude
		}
	}
	return 10 * magnitude
}

func formatTick(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms": func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"optionalMs": func(v *float64) string {
		if v == nil {
			return "never"
		}
		return strconv.FormatFloat(*v, 'f', 0, 64) + " ms"
	},
	"percent": func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + " %" },
	// everyone says who s counts: "3 people and 1 bots", with "and 2 farm
	// accounts" when there are any.
	"everyone": func(s Split) string {
		who := fmt.Sprintf("%d people and %d bots", s.People, s.Bots)
		if s.Farms > 0 {
			who += fmt.Sprintf(" and %d farm accounts", s.Farms)
		}
		return who
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>flashsale load test: {{.Report.Scenario}} {{.Report.RunID}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child,td.text{text-align:left}th{background:#f6f6f6}
.ok{color:#1a7f37}.bad{color:#c62828}.violation{color:#c62828;font-weight:600}
svg .title{font-weight:600;font-size:14px}svg .legend,svg .tick{font-size:11px;fill:#444}
svg .grid{stroke:#eee}svg .frame{fill:none;stroke:#bbb}svg .line{fill:none;stroke-width:1.6}
</style></head><body>
{{with .Report}}
<h1>{{.Scenario}} load test of {{.BaseURL}}:
{{if .OK}}<span class="ok">OK, every invariant held</span>{{else}}<span class="bad">FAILED, {{len .Violations}} violation(s)</span>{{end}}</h1>
{{if .Violations}}<ul>{{range .Violations}}<li class="violation">{{.}}</li>{{end}}</ul>{{end}}

<h2>Summary</h2>
<table>
<tr><td>run</td><td class="text">{{.RunID}}, seed {{.Seed}}, generated {{.GeneratedAt.Format "2006-01-02 15:04:05 MST"}}</td></tr>
<tr><td>sale</td><td class="text">{{.SaleID}} {{if .CreatedSale}}(created by the run){{else}}(existing){{end}}, {{.TotalUnits}} units over {{len .ItemIDs}} item(s)</td></tr>
<tr><td>users</td><td class="text">{{.Users}}, of which {{.Bots}} bots ({{percent .BotShareOfUsers}})</td></tr>
<tr><td>traffic</td><td class="text">{{printf "%.1f" .TrafficSeconds}} s, ended because: {{.StopReason}}</td></tr>
<tr><td>requests</td><td class="text">{{.TrafficRequests}} ({{printf "%.0f" .Throughput}}/s), {{.PlaceOrderAttempts}} place-order attempts, {{.DroppedArrivals}} dropped and {{.UnusedArrivals}} unused arrivals, {{.Canceled}} cut off at the end</td></tr>
<tr><td>reservations (201)</td><td class="text">{{.Reservations.People}} to people, {{.Reservations.Bots}} to bots (bot share {{percent .Reservations.BotShare}}){{if .Farm}}, {{.Reservations.Farms}} to farm accounts (farm share {{percent .Reservations.FarmShare}}){{end}}; {{.RecoveredReservations}} recovered through a 200</td></tr>
<tr><td>purchases</td><td class="text">{{.Purchases.People}} by people, {{.Purchases.Bots}} by bots (bot share {{percent .Purchases.BotShare}}){{if .Farm}}, {{.Purchases.Farms}} by farm accounts (farm share {{percent .Purchases.FarmShare}}){{end}}; {{.Payments.Abandoned}} winners walked away, {{.Payments.Failed}} payments failed, {{.Payments.Unfinished}} unfinished, {{.Payments.CardLimitRefused}} refused by the card limit</td></tr>
<tr><td>sold out</td><td class="text">{{if .SellOut.AllItemsSoldOut}}after {{optionalMs .SellOut.AfterMs}}{{else}}not every item{{end}}; last reservation after {{optionalMs .SellOut.LastReservationAfterMs}}</td></tr>
<tr><td>generator delays</td><td class="text">queue wait for a worker p99 {{ms .QueueWait.P99Ms}} ms (excluded from latency); open-loop arrival lag p99 {{ms .ArrivalLag.P99Ms}} ms (included in open-loop latency)</td></tr>
<tr><td>orders checked</td><td class="text">{{.OrderCheck.Checked}} of {{.OrderCheck.Orders}}{{if .OrderCheck.Sampled}} (random sample){{end}}: {{.OrderCheck.Found}} found, {{.OrderCheck.Missing}} missing, {{.OrderCheck.Unverified}} unverified, {{.OrderCheck.RateLimited}} refused by rate limits</td></tr>
</table>
{{end}}

{{with .Report.Queue}}
<h2>Waiting room</h2>
<table>
<tr><td>settings</td><td class="text">admit_per_minute {{.AdmitPerMinute}}, max_active {{.MaxActive}}, pre_queue_seconds {{.PreQueueSeconds}}, abandon_seconds {{.AbandonSeconds}}, order {{.Order}}, overbook {{.Overbook}}; the sale started {{printf "%.0f" .SaleStartAfterMs}} ms after the line opened</td></tr>
<tr><td>joined</td><td class="text">{{everyone .JoinedPreQueue}} in the pre-queue, {{everyone .JoinedAfterStart}} after the start</td></tr>
<tr><td>admitted</td><td class="text">{{everyone .Admitted}} saw their admission; the service counted {{.AdmittedByService}}</td></tr>
<tr><td>admission rate</td><td class="text">{{printf "%.2f" .Admission.MeasuredPerSecond}}/s measured over {{printf "%.1f" .Admission.MeasuredOverSeconds}} s against {{printf "%.2f" .Admission.SettingPerSecond}}/s set ({{.Admission.CappedSamples}} samples at max_active)</td></tr>
<tr><td>wait (s)</td><td class="text">predicted p50 {{printf "%.0f" .PredictedWait.P50}}, p90 {{printf "%.0f" .PredictedWait.P90}}; actual p50 {{printf "%.1f" .ActualWait.P50}}, p90 {{printf "%.1f" .ActualWait.P90}}; actual/predicted p50 {{printf "%.2f" .WaitRatio.P50}}, p90 {{printf "%.2f" .WaitRatio.P90}} ({{.PredictedWait.Count}} shoppers, {{.NeverWaited}} admitted before a ticket read waiting); admission seen p50 {{printf "%.1f" .AdmissionNoticed.P50}}, p90 {{printf "%.1f" .AdmissionNoticed.P90}} after it</td></tr>
<tr><td>leaving</td><td class="text">{{.Left}} left, {{.WalkedAway}} walked away, the service counted {{.Abandoned}} abandoned; {{.Released}} slots released after reserving; {{.SessionsEnded}} sessions ended, {{.ExpiredLate}} expired late; {{.TokenlessPresses}} bot presses without a token</td></tr>
<tr><td>latency (ms)</td><td class="text">join p50 {{ms .Joins.P50Ms}}, p99 {{ms .Joins.P99Ms}}; poll p50 {{ms .Polls.P50Ms}}, p99 {{ms .Polls.P99Ms}}; GET …/queue {{printf "%.0f" .PollsPerSecond}}/s over the traffic, peak {{printf "%.0f" .PeakPollsPerSecond}}/s</td></tr>
</table>
{{end}}
{{if .Report.Queue}}{{.QueueChart}}{{end}}

{{with .Report.Farm}}
<h2>Farms</h2>
<table>
<tr><td>people</td><td class="text">{{.Humans}} humans, {{.Bots}} bots and {{.Operators}} farm operators, one person each: the operators are {{percent .ShareOfPeople}} of the people</td></tr>
<tr><td>farm accounts</td><td class="text">{{.Accounts}}, {{.AccountsPerOperator}} per operator, each operator's sharing one card and one device</td></tr>
<tr><td>card limit</td><td class="text">{{if .CardLimit}}per_card {{.CardLimit}}{{else}}none{{end}}</td></tr>
<tr><td>confirmed units</td><td class="text">{{.Confirmed.Farms}} by farms, {{.Confirmed.People}} by humans, {{.Confirmed.Bots}} by bots</td></tr>
<tr><td>farms' share</td><td class="text">{{percent .ShareOfUnits}} of the confirmed units against {{percent .ShareOfPeople}} of the people: {{printf "%.1f" .Ratio}} x their share; {{.OperatorsWhoBought}} of {{.Operators}} operators bought, at most {{.MostByOneOperator}} each</td></tr>
<tr><td>refused by the card limit</td><td class="text">{{.CardLimitRefusals.Farms}} payments of farm accounts, {{.CardLimitRefusals.People}} of humans, {{.CardLimitRefusals.Bots}} of bots; their reservations were left to expire</td></tr>
{{with .JoinCardLimitRefusals}}<tr><td>joins refused by the card limit</td><td class="text">{{.Farms}} joins of farm accounts, {{.People}} of humans, {{.Bots}} of bots: their card held a place in the line already, for another account</td></tr>{{end}}
{{with .Lottery}}<tr><td>lottery entries</td><td class="text">farm accounts {{.Entered.Farms}} taken, {{.CardRefused.Farms}} refused for the card; humans {{.Entered.People}} taken, {{.CardRefused.People}} refused; bots {{.Entered.Bots}} taken, {{.CardRefused.Bots}} refused</td></tr>
<tr><td>won units</td><td class="text">{{.Won.Farms}} by farms, {{.Won.People}} by humans, {{.Won.Bots}} by bots: farms {{percent .Won.FarmShare}}, {{printf "%.1f" .WonRatio}} x their share of the people</td></tr>{{end}}
</table>
{{end}}

{{with .Report.Challenges}}
<h2>Challenges</h2>
<table>
<tr><td>sale</td><td class="text">policy {{.Policy}}, max_number {{.MaxNumber}}{{if .Pace}}, pace {{.Pace}} hashes a second (no solution taken before its challenge's notbefore){{end}}; people send their solutions {{printf "%.0f" .ThinkMs}} ms later than bots</td></tr>
<tr><td>challenged</td><td class="text">people's {{$.ChallengedRequests}}: {{.Challenged.People}} of {{.Answered.People}} ({{percent .PeopleChallengedShare}}); bots': {{.Challenged.Bots}} of {{.Answered.Bots}}{{if .Answered.Farms}}, farm accounts': {{.Challenged.Farms}} of {{.Answered.Farms}}{{end}} ({{percent .BotsChallengedShare}})</td></tr>
<tr><td>solved</td><td class="text">bots {{.Solved.Bots}}{{if .Solved.Farms}}, farm accounts {{.Solved.Farms}}{{end}}, people {{.Solved.People}}; solutions refused {{.Refused.Bots}} (bots), {{.Refused.People}} (people){{if .Pace}}; sent before their notbefore {{.Early.Bots}} (bots), {{.Early.People}} (people){{end}}</td></tr>
<tr><td>solver time</td><td class="text">bots {{printf "%.3f" .SolveCPU.Bots}} s, people {{printf "%.3f" .SolveCPU.People}} s ({{if .CPUMeasured}}the solving threads' CPU time{{else}}wall time{{end}}); {{printf "%.1f" .MeanBotSolveMs}} ms per bot solve</td></tr>
{{with .Server}}<tr><td>the service counted</td><td class="text">{{.Challenged}} issued, {{.Solved}} solved, {{.Failed}} failed, {{.Early}} early</td></tr>{{end}}
{{with .BotSolutionsBeforeSoldOut}}<tr><td>bots' solutions before the sell-out</td><td class="text">{{.OnOwnCores}} of {{.Solved}} on cores of their own (each solve's CPU time{{if $.Report.Challenges.Pace}}, or its notbefore when later{{end}}), {{.Here}} here (the cores shared), before the sale sold out at {{printf "%.0f" .SoldOutMs}} ms</td></tr>{{end}}
</table>
{{end}}

{{with .Report.Lottery}}
<h2>Lottery</h2>
<table>
<tr><td>entries</td><td class="text">{{.Entered}} over a {{printf "%.0f" .EntryWindowSeconds}} s window: {{printf "%.0f" .EntriesPerSecond}} entries/s (first sent to last 201: {{printf "%.2f" .EntrySpanSeconds}} s); {{.Reentered}} second entries found the first, {{.Recovered}} recovered, {{.EntriesClosed}} after the close, {{.Failed}} failed</td></tr>
<tr><td>entry latency (201)</td><td class="text">p50 {{ms .EntryLatency.P50Ms}} ms, p99 {{ms .EntryLatency.P99Ms}} ms, max {{ms .EntryLatency.MaxMs}} ms</td></tr>
<tr><td>draw</td><td class="text">{{if .DrawAfterMs}}drawn {{optionalMs .DrawAfterMs}} after the close (read every {{printf "%.0f" .DrawPollMs}} ms){{else}}never seen drawn{{end}}; {{.EntryCount}} entries published, {{.Winners}} winners</td></tr>
<tr><td>reservations</td><td class="text">{{.Reservations}} read by the users, {{.AfterFirstWave}} after the first wave; {{.Cancelled}} cancelled ({{.CancelFailed}} refused)</td></tr>
<tr><td>entrants</td><td class="text">{{.Lost}} lost, {{.StillWaitlisted}} still waitlisted at the end, {{.NoResult}} never read a result</td></tr>
{{with .Verification}}<tr><td>draw check</td><td class="text">{{if .Verified}}<span class="ok">verified</span>{{else}}<span class="bad">not verified</span>{{end}}{{if .Error}} ({{.Error}}){{end}}: {{.Items}} item(s) recomputed, commitment read at the opening: {{.CommitmentReadAtOpening}}; {{.UsersChecked}} users held to the order ({{.RankReads}} rank reads, {{.WonReads}} won reads, {{.Mismatches}} contradictions); {{.UsersWithOneEntry}} users read exactly one entry</td></tr>{{end}}
{{with .Uniformity}}<tr><td>uniformity</td><td class="text">{{if .Tested}}draw winners by entry-time decile {{.Wins}}, chi-square {{printf "%.2f" .ChiSquare}} (df {{.DF}}), p = {{printf "%.3f" .PValue}}{{else}}{{.Note}}{{end}}</td></tr>{{end}}
</table>
<table><tr><th>wave</th><th>from ms</th><th>to ms</th><th>reservations</th><th>units</th><th>sold</th><th>cancelled</th><th>expired</th><th>open</th></tr>
{{range .Waves}}<tr><td>{{.Wave}}</td><td>{{printf "%.0f" .StartMs}}</td><td>{{printf "%.0f" .EndMs}}</td><td>{{.Reservations}}</td><td>{{.Units}}</td><td>{{.Sold}}</td><td>{{.Cancelled}}</td><td>{{.Expired}}</td><td>{{.Open}}</td></tr>{{end}}</table>
{{end}}

<h2>Throughput, latency and stock over time</h2>
{{.ThroughputChart}}
{{.LatencyChart}}
{{.StockChart}}

{{with .Report}}
<h2>Latency by endpoint and outcome (ms)</h2>
{{$.DistributionChart}}
<table><tr><th>endpoint</th><th>outcome</th><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{{range .Endpoints}}<tr><th>{{.Endpoint}}</th><th>all</th><th>{{.Count}}</th><th>{{ms .MeanMs}}</th><th>{{ms .P50Ms}}</th><th>{{ms .P90Ms}}</th><th>{{ms .P99Ms}}</th><th>{{ms .P999Ms}}</th><th>{{ms .MaxMs}}</th></tr>
{{range .Outcomes}}<tr><td></td><td class="text">{{.Outcome}}</td><td>{{.Count}}</td><td>{{ms .MeanMs}}</td><td>{{ms .P50Ms}}</td><td>{{ms .P90Ms}}</td><td>{{ms .P99Ms}}</td><td>{{ms .P999Ms}}</td><td>{{ms .MaxMs}}</td></tr>
{{end}}{{end}}</table>

<h2>Answers by status and error code</h2>
<table><tr><th>status</th><th>count</th></tr>{{range $k, $v := .StatusCounts}}<tr><td>{{$k}}</td><td>{{$v}}</td></tr>{{end}}</table>
<table><tr><th>error code</th><th>count</th></tr>{{range $k, $v := .ErrorCodes}}<tr><td>{{$k}}</td><td>{{$v}}</td></tr>{{end}}</table>

<h2>Items</h2>
<table><tr><th>item</th><th>total</th><th>reservations</th><th>confirmed</th><th>first sold_out after</th></tr>
{{range .SellOut.Items}}<tr><td>{{.ItemID}}</td><td>{{.Total}}</td><td>{{.Reservations}}</td><td>{{.Confirmed}}</td><td>{{optionalMs .SoldOutAfter}}</td></tr>{{end}}</table>

<h2>Final stats from the service</h2>
{{with .FinalStats}}<table><tr><th>item</th><th>total</th><th>available</th><th>reserved</th><th>sold</th><th>attempts</th></tr>
{{range .Items}}<tr><td>{{.ItemID}}</td><td>{{.Total}}</td><td>{{.Available}}</td><td>{{.Reserved}}</td><td>{{.Sold}}</td><td>{{.Attempts}}</td></tr>{{end}}</table>
{{else}}<p class="bad">The stats could not be read.</p>{{end}}

{{if .Notes}}<h2>Notes</h2><ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{end}}
<h2>Settings</h2>
<table>{{range .Settings}}<tr><td>{{index . 0}}</td><td class="text">{{index . 1}}</td></tr>{{end}}</table>
</body></html>
`))
