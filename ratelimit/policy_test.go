package ratelimit

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in     string
		limits []Limit
		text   string
	}{
		{"10/s", []Limit{{10, time.Second}}, "10/s"},
		{"1/s,10/m", []Limit{{1, time.Second}, {10, time.Minute}}, "1/s,10/m"},
		{" 10/m , 1/s ", []Limit{{1, time.Second}, {10, time.Minute}}, "1/s,10/m"},
		{"100/h", []Limit{{100, time.Hour}}, "100/h"},
		{"5/10s", []Limit{{5, 10 * time.Second}}, "5/10s"},
		{"3/2h,50/90s", []Limit{{50, 90 * time.Second}, {3, 2 * time.Hour}}, "50/90s,3/2h"},
		{"1/60s", []Limit{{1, time.Minute}}, "1/m"},
		{"100000/168h", []Limit{{100_000, 168 * time.Hour}}, "100000/168h"},
		{"off", nil, "off"},
		{" OFF ", nil, "off"},
	}
	for _, tt := range tests {
		p, err := ParsePolicy(tt.in)
		if err != nil {
			t.Errorf("ParsePolicy(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(p.Limits, tt.limits) {
			t.Errorf("ParsePolicy(%q).Limits = %v, want %v", tt.in, p.Limits, tt.limits)
		}
		if p.Enabled() != (tt.limits != nil) {
			t.Errorf("ParsePolicy(%q).Enabled() = %v", tt.in, p.Enabled())
		}
		if p.String() != tt.text {
			t.Errorf("ParsePolicy(%q).String() = %q, want %q", tt.in, p.String(), tt.text)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct {
		in      string
		mention string // the error must name what is wrong
	}{
		{"", "empty"},
		{"  ", "empty"},
		{"10", "count/window"},
		{"10/", "missing"},
		{"/s", "count"},
		{"0/s", "count"},
		{"-1/s", "count"},
		{"+1/s", "count"},
		{"1_0/s", "count"},
		{"ten/s", "count"},
		{"100001/s", "timestamp"},
		{"2000000000/s", "count"},
		{"99999999999999999999/s", "count"},
		{"1/d", "unit"},
		{"1/S", "unit"},
		{"1/0s", "multiplier"},
		{"1/-5s", "multiplier"},
		{"1/ s", "multiplier"},
		{"1/200h", "multiplier"},
		{"1/s,", "count/window"},
		{"1/s,,2/m", "count/window"},
		{"1/s,2/1s", "share a window"},
		{"10/m,20/60s", "share a window"},
		{"1/s;10/m", "unit"},
	}
	for _, tt := range tests {
		_, err := ParsePolicy(tt.in)
		if err == nil {
			t.Errorf("ParsePolicy(%q) succeeded, want an error", tt.in)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ParsePolicy(%q) error %q does not mention %q", tt.in, err, tt.mention)
		}
	}
}

func TestNamed(t *testing.T) {
	p, _ := ParsePolicy("1/s")
	named := p.Named("ip")
	if named.Name != "ip" || p.Name != "" {
		t.Fatalf("Named changed the original or missed the copy: %q, %q", p.Name, named.Name)
	}
}

// Whatever ParsePolicy takes is a policy every limiter serves (Validate),
// its limits sorted by window, each window distinct, and its String reads
// back as the same policy. Run with -fuzz to search beyond the seeds.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"10/s", "1/s,10/m", " 10/m , 1/s ", "100/h", "5/10s", "off", "OFF", "", " ", "0/s", "-1/s",
		"+1/s", "1_0/s", "100001/s", "100000/s", "1/168h", "1/169h", "1/10080m", "1/604800s", "1/604801s",
		"1/60s,1/m", "1/s,,1/m", "1/s,", "10", "10/", "10/x", "10/0s", "10/-1s", "10/+1s", "1/9223372036854775807s",
		"99999999999999999999/s", "1/s/m", "1/ s", "1 /s", "١/s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParsePolicy(%q) gave a policy no limiter serves: %v", s, err)
		}
		for i := 1; i < len(p.Limits); i++ {
			if p.Limits[i-1].Window >= p.Limits[i].Window {
				t.Fatalf("ParsePolicy(%q): limits %v not by distinct ascending window", s, p.Limits)
			}
		}
		text := p.String()
		again, err := ParsePolicy(text)
		if err != nil || !slices.Equal(again.Limits, p.Limits) {
			t.Fatalf("ParsePolicy(%q) = %v, which prints as %q and reads back as %v, %v", s, p.Limits, text, again.Limits, err)
		}
	})
}
