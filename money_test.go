package flashsale_test

import (
	"testing"

	"github.com/flashsale/flashsale"
)

func TestParseMoney(t *testing.T) {
	good := map[string]flashsale.Money{
		"0": 0, "0.00": 0, "499.00": 49900, "129.5": 12950, "1.05": 105, "999999999999.99": -1,
	}
	for in, want := range good {
		got, err := flashsale.ParseMoney(in)
		if want == -1 {
			if err == nil {
				t.Errorf("ParseMoney(%q) = %d, want a too-large error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1.00", "+1", "1.", ".5", "1.001", "1e3", "12,00", "abc", " 1"} {
		if got, err := flashsale.ParseMoney(in); err == nil {
			t.Errorf("ParseMoney(%q) = %d, want an error", in, got)
		}
	}
}

func TestMoneyString(t *testing.T) {
	for m, want := range map[flashsale.Money]string{0: "0.00", 5: "0.05", 49900: "499.00", 12950: "129.50", -105: "-1.05"} {
		if got := m.String(); got != want {
			t.Errorf("Money(%d).String() = %q, want %q", int64(m), got, want)
		}
	}
}
