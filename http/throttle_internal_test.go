package http

import (
	"slices"
	"testing"

	"github.com/flashsale/flashsale/ratelimit"
)

func TestParseThrottle(t *testing.T) {
	got, err := ParseThrottle(" 20000:0.2, 5000:0.5 ")
	if err != nil || !slices.Equal(got, Throttle{{5000, 0.5}, {20000, 0.2}}) {
		t.Fatalf("ParseThrottle: %v %v", got, err)
	}
	if got, err := ParseThrottle("OFF"); err != nil || got != nil {
		t.Fatalf("off: %v %v", got, err)
	}
	for _, bad := range []string{"", " ", "5000", "5000:1", "5000:0", "5000:-0.5", "0:0.5", "-1:0.5", "x:0.5",
		"5000:0.5,5000:0.2", "5000:0.2,20000:0.5", "5000:0.5,20000:0.5", "inf:0.5", "5000:NaN"} {
		if _, err := ParseThrottle(bad); err == nil {
			t.Errorf("ParseThrottle(%q) accepted", bad)
		}
	}
}

func TestThrottleLevels(t *testing.T) {
	throttle := Throttle{{5000, 0.5}, {20000, 0.2}}
	for rate, want := range map[float64]int{0: 0, 5000: 0, 5001: 1, 20000: 1, 20000.5: 2, 1e9: 2} {
		if got := throttle.level(rate); got != want {
			t.Errorf("level at %v req/s: %d, want %d", rate, got, want)
		}
	}
	base, err := ratelimit.ParsePolicy("1/s,10/m")
	if err != nil {
		t.Fatal(err)
	}
	policies := Throttle{{5000, 0.3}, {20000, 0.05}}.policies(base.Named("order"))
	for i, want := range []string{"1/s,3/m", "1/s,1/m"} { // counts never below 1; 10 x 0.3 is 3
		if policies[i].String() != want || policies[i].Name != []string{"order-throttle1", "order-throttle2"}[i] {
			t.Errorf("level %d: %s %s, want %s", i+1, policies[i].Name, policies[i], want)
		}
	}
}
