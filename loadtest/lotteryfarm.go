package loadtest

import (
	"fmt"
	"time"
)

// Farms in the lottery: each operator's accounts enter together, at one
// moment of the entries' spread, as one script fires them all, and where
// the sale counts cards they send the operator's one card. Such a sale
// claims the card at the entry: it takes the entries a card's limit
// allows and refuses the others with 409 purchase_limit_exceeded (reason
// card). The farms' report then sets what their entries won and paid for
// against their share of the people, as the farm scenario does.

// farmsEnterAt picks when each operator's accounts enter after the
// opening: one moment of the jitter for all of them, so that their claims
// of the one card race as a script's would.
func (r *run) farmsEnterAt() map[*farmOperator]time.Duration {
	at := make(map[*farmOperator]time.Duration, len(r.operators))
	r.pickerMu.Lock()
	defer r.pickerMu.Unlock()
	for _, operator := range r.operators {
		at[operator] = time.Duration(r.pickerRand.Int64N(int64(r.cfg.Jitter) + 1))
	}
	return at
}

// FarmLottery is how a lottery's farms fared at the entry and in the
// draw, against the humans (People) and bots.
type FarmLottery struct {
	// Entered counts the entries the service took (a 201, or a 200 for
	// one whose first answer was lost); CardRefused the entries it
	// refused with 409 purchase_limit_exceeded, their card standing
	// behind the sale's limit in other entries.
	Entered     Split `json:"entered"`
	CardRefused Split `json:"card_refused"`
	// Won counts the units won, at the draw and from the waitlist (the
	// reservations read on won entries); WonRatio is the farms' share of
	// them over their share of the people (0 without operators). The
	// report's Confirmed and Ratio are what was paid for.
	Won      Split   `json:"won"`
	WonRatio float64 `json:"won_ratio"`
}

// farmLottery tallies a lottery's entries by farm accounts and by the
// others, sets won (the reservations, by whom) against the farms' share of
// the people, and checks that no operator's card stands behind more
// entries than the sale's per_card allows: each entry claims the units it
// may win, its item's per_user_limit, and none has lost before the draw.
// The traffic is over: the users' entries no longer change.
func (r *run) farmLottery(f *FarmReport, won Split) (*FarmLottery, []string) {
	var entered, refused split
	held := map[*farmOperator]int64{}
	for _, u := range r.users {
		switch e := u.lottery; {
		case e == nil:
		case e.id != "":
			entered.addUser(u)
			if u.farm != nil {
				held[u.farm] += r.sale.items[e.item].perUserLimit
			}
		case e.refusal != "":
			refused.addUser(u)
		}
	}
	report := &FarmLottery{Entered: newSplit(entered), CardRefused: newSplit(refused), Won: won}
	if f.ShareOfPeople > 0 {
		report.WonRatio = won.FarmShare / f.ShareOfPeople
	}
	limit := r.sale.cardLimit
	if limit == 0 {
		return report, nil
	}
	var past int
	var example string
	for _, operator := range r.operators {
		if held[operator] > limit {
			past++
			if example == "" {
				example = fmt.Sprintf("farm %d's card %s behind entries for %d units", operator.index, operator.card, held[operator])
			}
		}
	}
	if past == 0 {
		return report, nil
	}
	return report, []string{fmt.Sprintf("%d farm card(s) stand behind entries for more than the sale's per_card %d, which the entry should have refused: e.g. %s", past, limit, example)}
}
