package loadtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// QueueReport is the queue scenario's account of the waiting room.
// Seconds are the unit of waits.
type QueueReport struct {
	AdmitPerMinute  int64   `json:"admit_per_minute"`
	MaxActive       int64   `json:"max_active"`
	PreQueueSeconds int64   `json:"pre_queue_seconds"`
	AbandonSeconds  int64   `json:"abandon_seconds"`
	Order           string  `json:"order"`
	Overbook        float64 `json:"overbook"`
	// SaleStartAfterMs is when the sale started, counted from traffic
	// start, which in this scenario is when the line opened.
	SaleStartAfterMs float64 `json:"sale_start_after_ms"`

	// JoinedPreQueue and JoinedAfterStart count the places taken, by the
	// first ticket's status.
	JoinedPreQueue   Split `json:"joined_pre_queue"`
	JoinedAfterStart Split `json:"joined_after_start"`
	// Admitted counts the shoppers who saw their admission;
	// AdmittedByService is the service's admitted_total at the end.
	Admitted          Split `json:"admitted"`
	AdmittedByService int64 `json:"admitted_by_service"`

	// Admission compares the measured admission rate with the setting.
	Admission AdmissionRate `json:"admission"`

	// PredictedWait is estimated_wait_seconds of each admitted shopper's
	// first waiting ticket; ActualWait the time from that ticket to
	// admitted_at; WaitRatio actual over predicted, shopper by shopper.
	// NeverWaited shoppers were admitted before a ticket read waiting.
	PredictedWait Quantiles `json:"predicted_wait_s"`
	ActualWait    Quantiles `json:"actual_wait_s"`
	WaitRatio     Quantiles `json:"wait_ratio"`
	NeverWaited   int64     `json:"never_waited"`
	// AdmissionNoticed is how long after admitted_at the shoppers saw
	// their admission: what polling as told costs them.
	AdmissionNoticed Quantiles `json:"admission_noticed_s"`

	// Left gave their place up (DELETE) while waiting; WalkedAway stopped
	// polling and left their place to expire; Released gave their
	// admission slot back after reserving. Abandoned is the service's
	// count of places lost for not being seen (the last sample): those
	// who walked away within abandon_seconds of its end are not in it.
	Left       int64 `json:"left"`
	WalkedAway int64 `json:"walked_away"`
	Released   int64 `json:"released"`
	Abandoned  int64 `json:"abandoned"`
	// SessionsEnded saw their admission end; ExpiredLate lost a place
	// because the generator polled later than abandon_seconds (its
	// workers were all busy).
	SessionsEnded int64 `json:"sessions_ended"`
	ExpiredLate   int64 `json:"expired_late"`
	// TooLatePolls counts tickets whose poll_after_ms reached
	// abandon_seconds; the generator polled sooner.
	TooLatePolls int64 `json:"too_late_polls"`
	// TokenlessPresses are the bots' presses without an admission token;
	// every one must be refused.
	TokenlessPresses int64 `json:"tokenless_presses"`

	// Joins and Polls are the latencies of POST and GET …/queue;
	// PollsPerSecond is the GET rate over the traffic phase and
	// PeakPollsPerSecond the highest between two samples.
	Joins              LatencySummary `json:"joins"`
	Polls              LatencySummary `json:"polls"`
	PollsPerSecond     float64        `json:"polls_per_second"`
	PeakPollsPerSecond float64        `json:"peak_polls_per_second"`

	Samples []QueueSample `json:"samples"`
}

// AdmissionRate is the admission rate measured from the line's figures
// while shoppers were waiting and the sale was neither sold out nor
// paused: the setting is an upper bound the caps (max_active, overbook ×
// available) may hold it under.
type AdmissionRate struct {
	SettingPerSecond  float64 `json:"setting_per_second"`
	MeasuredPerSecond float64 `json:"measured_per_second"`
	// MeasuredOverSeconds is the span measured; FromMs and ToMs bound it,
	// from traffic start.
	MeasuredOverSeconds float64 `json:"measured_over_seconds"`
	FromMs              float64 `json:"from_ms"`
	ToMs                float64 `json:"to_ms"`
	// CappedSamples were taken with max_active reached.
	CappedSamples int `json:"capped_samples"`
}

// Quantiles summarise a distribution of seconds or ratios.
type Quantiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	Max   float64 `json:"max"`
}

func quantiles(values []float64) Quantiles {
	if len(values) == 0 {
		return Quantiles{}
	}
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	at := func(q float64) float64 { return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)] }
	return Quantiles{Count: len(sorted), P50: at(0.5), P90: at(0.9), Max: sorted[len(sorted)-1]}
}

// queueReport assembles the queue scenario's report and the violations
// its figures show.
func (r *run) queueReport(endpoints []EndpointReport, trafficSeconds float64) (*QueueReport, []string) {
	q := r.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	w := r.sale.waitingRoom
	report := &QueueReport{
		AdmitPerMinute: w.AdmitPerMinute, MaxActive: w.MaxActive, PreQueueSeconds: w.PreQueueSeconds,
		AbandonSeconds: w.AbandonSeconds, Order: w.Order, Overbook: w.Overbook,
		SaleStartAfterMs: ms(r.sale.start.Sub(r.trafficStart)),
		JoinedPreQueue:   newSplit(q.joinedPreQueue), JoinedAfterStart: newSplit(q.joinedAfterStart), Admitted: newSplit(q.admitted),
		PredictedWait: quantiles(q.predicted), ActualWait: quantiles(q.actual), WaitRatio: quantiles(q.ratio),
		NeverWaited: q.neverWaited, AdmissionNoticed: quantiles(q.noticed),
		Left: q.left, WalkedAway: q.quiet, Released: q.released,
		SessionsEnded: q.sessionEnded, ExpiredLate: q.expiredLate, TooLatePolls: q.tooLatePolls,
		TokenlessPresses: q.tokenlessPresses,
		Samples:          append([]QueueSample{}, q.samples...),
	}
	for _, ep := range endpoints {
		switch ep.Endpoint {
		case endpointJoinQueue:
			report.Joins = ep.LatencySummary
		case endpointPollQueue:
			report.Polls = ep.LatencySummary
			if trafficSeconds > 0 {
				report.PollsPerSecond = float64(ep.Count) / trafficSeconds
			}
		}
	}
	var violations []string
	kinds := make([]string, 0, len(q.violations))
	for kind := range q.violations {
		kinds = append(kinds, kind)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		v := q.violations[kind]
		violations = append(violations, fmt.Sprintf("waiting room: %d %s (e.g. %s)", v.count, kind, v.example))
	}
	last := q.final
	if last == nil && len(q.samples) > 0 {
		last = &q.samples[len(q.samples)-1]
	}
	if last != nil {
		report.Abandoned, report.AdmittedByService = last.Abandoned, last.AdmittedTotal
	}
	all := report.Samples
	if q.final != nil {
		all = append(all, *q.final)
	}
	report.Admission, violations = r.admissionRate(all, violations)
	for _, s := range report.Samples {
		report.PeakPollsPerSecond = max(report.PeakPollsPerSecond, s.PollsPerSecond)
	}
	return report, violations
}

// admissionRate measures the rate over the longest span of samples from
// the start during which shoppers waited and the sale was neither sold
// out nor paused, and checks every sample against the setting (at most
// the rate for the time since the start, plus one second for the tick)
// and the cap.
func (r *run) admissionRate(samples []QueueSample, violations []string) (AdmissionRate, []string) {
	startMs := ms(r.sale.start.Sub(r.trafficStart))
	var rate AdmissionRate
	var highest int64
	for _, s := range samples {
		highest = max(highest, s.AdmitPerMinute)
	}
	rate.SettingPerSecond = float64(r.sale.waitingRoom.AdmitPerMinute) / 60
	allowedPerSecond := float64(max(highest, r.sale.waitingRoom.AdmitPerMinute)) / 60
	first, last := -1, -1
	overRate, overCap := 0, 0
	var overRateExample, overCapExample string
	for i, s := range samples {
		since := max(s.AtMs-startMs, 0) / 1000
		if allowed := allowedPerSecond*(since+1) + 1; float64(s.AdmittedTotal) > allowed {
			overRate++
			overRateExample = fmt.Sprintf("%d admitted %.1f s after the start, at most %.0f allowed", s.AdmittedTotal, since, allowed)
		}
		if s.MaxActive > 0 && s.Active > s.MaxActive {
			overCap++
			overCapExample = fmt.Sprintf("%d active with max_active %d", s.Active, s.MaxActive)
		}
		if s.MaxActive > 0 && s.Active >= s.MaxActive {
			rate.CappedSamples++
		}
		busy := s.AtMs >= startMs && s.Waiting > 0 && !s.SoldOut && !s.Paused
		switch {
		case busy && first < 0:
			first, last = i, i
		case busy && last == i-1:
			last = i
		}
	}
	if overRate > 0 {
		violations = append(violations, fmt.Sprintf("waiting room: %d samples admitted more than admit_per_minute allows (e.g. %s)", overRate, overRateExample))
	}
	if overCap > 0 {
		violations = append(violations, fmt.Sprintf("waiting room: %d samples over max_active (e.g. %s)", overCap, overCapExample))
	}
	if first >= 0 && last > first {
		a, b := samples[first], samples[last]
		rate.FromMs, rate.ToMs = a.AtMs, b.AtMs
		rate.MeasuredOverSeconds = (b.AtMs - a.AtMs) / 1000
		rate.MeasuredPerSecond = float64(b.AdmittedTotal-a.AdmittedTotal) / rate.MeasuredOverSeconds
	}
	return rate, violations
}

// finishQueue reads the line's figures once more after the traffic, for
// the places abandoned since the last sample.
func (r *run) finishQueue(ctx context.Context) {
	if s, ok := r.sampleQueue(ctx); ok {
		r.queue.mu.Lock()
		r.queue.final = &s
		r.queue.mu.Unlock()
	}
}

// writeQueueText is the queue scenario's part of the text summary.
func writeQueueText(b *strings.Builder, q *QueueReport) {
	fmt.Fprintf(b, "waiting room: admit_per_minute %d (%.1f/s), max_active %d, pre-queue %d s, abandon %d s, %s; the sale started %.0f ms after the line opened\n",
		q.AdmitPerMinute, q.Admission.SettingPerSecond, q.MaxActive, q.PreQueueSeconds, q.AbandonSeconds, q.Order, q.SaleStartAfterMs)
	fmt.Fprintf(b, "  joined: %d in the pre-queue (%s), %d after the start (%s); admitted %d seen by shoppers (%s), %d by the service's count\n",
		q.JoinedPreQueue.total(), q.JoinedPreQueue.machines(), q.JoinedAfterStart.total(), q.JoinedAfterStart.machines(),
		q.Admitted.total(), q.Admitted.machines(), q.AdmittedByService)
	fmt.Fprintf(b, "  admissions: %.2f/s measured over %.1f s against %.2f/s set (%d samples at max_active)\n",
		q.Admission.MeasuredPerSecond, q.Admission.MeasuredOverSeconds, q.Admission.SettingPerSecond, q.Admission.CappedSamples)
	fmt.Fprintf(b, "  wait predicted p50 %.0f s, p90 %.0f s; actual p50 %.1f s, p90 %.1f s; actual/predicted p50 %.2f, p90 %.2f (%d shoppers; %d admitted before a ticket read waiting); admission seen p50 %.1f s, p90 %.1f s after it\n",
		q.PredictedWait.P50, q.PredictedWait.P90, q.ActualWait.P50, q.ActualWait.P90, q.WaitRatio.P50, q.WaitRatio.P90, q.PredictedWait.Count, q.NeverWaited,
		q.AdmissionNoticed.P50, q.AdmissionNoticed.P90)
	fmt.Fprintf(b, "  left %d, walked away %d (the service counted %d abandoned), released %d slots after reserving; %d sessions ended, %d expired late; %d bot presses without a token\n",
		q.Left, q.WalkedAway, q.Abandoned, q.Released, q.SessionsEnded, q.ExpiredLate, q.TokenlessPresses)
	fmt.Fprintf(b, "  join p50 %.2f ms, p99 %.2f ms; poll p50 %.2f ms, p99 %.2f ms; GET …/queue %.0f/s over the traffic, peak %.0f/s\n",
		q.Joins.P50Ms, q.Joins.P99Ms, q.Polls.P50Ms, q.Polls.P99Ms, q.PollsPerSecond, q.PeakPollsPerSecond)
}

// queueNotes explains the queue figures that need it.
func queueNotes(q *QueueReport) []string {
	var notes []string
	if q.TooLatePolls > 0 {
		notes = append(notes, fmt.Sprintf("%d tickets said poll_after_ms at or beyond abandon_seconds (%d s): a client obeying would lose its place; the generator polled within two thirds of abandon_seconds instead",
			q.TooLatePolls, q.AbandonSeconds))
	}
	if q.ExpiredLate > 0 {
		notes = append(notes, fmt.Sprintf("%d places expired because the generator polled later than abandon_seconds (its workers were busy): raise -concurrency", q.ExpiredLate))
	}
	if q.Admission.CappedSamples > 0 {
		notes = append(notes, fmt.Sprintf("max_active was reached in %d samples: the cap, not the rate, held admission there", q.Admission.CappedSamples))
	}
	if q.Admission.MeasuredOverSeconds == 0 {
		notes = append(notes, "shoppers waited in fewer than two consecutive samples of the line: the admission rate could not be measured (more users, or a lower rate)")
	}
	if q.WalkedAway > q.Abandoned {
		notes = append(notes, fmt.Sprintf("%d shoppers walked away but the service counted %d places abandoned: a place expires abandon_seconds after its last poll, and the run may end before, or the walker was admitted and sold out first", q.WalkedAway, q.Abandoned))
	}
	return notes
}
