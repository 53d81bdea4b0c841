package flashsale_test

import (
	"math/big"
	"strings"
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

// Whatever string ParseMoney takes is plain digits with at most two
// decimals (the reference below), never negative nor above MaxMoney, and
// its amount prints as a string that parses back to the same amount. Run
// with -fuzz to search beyond the seeds.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"0", "0.00", "499.00", "129.5", "1.05", "999999999.99", "1000000000.00", "1000000000.01",
		"999999999999.99", "9999999999999", "", "-1.00", "+1", "1.", ".5", "1.001", "1e3", "12,00", "abc", " 1",
		"1 ", "١٢٣", "0x10", "1_000", "00000000000001.5", "１.00", "1.0\x00", "NaN", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := flashsale.ParseMoney(s)
		if err != nil {
			return
		}
		whole, frac, hasPoint := strings.Cut(s, ".")
		if !plainDigits(whole) || hasPoint && (len(frac) < 1 || len(frac) > 2 || !plainDigits(frac)) {
			t.Fatalf("ParseMoney(%q) = %d, but it is not digits with at most two decimals", s, int64(m))
		}
		if m < 0 || m > flashsale.MaxMoney {
			t.Fatalf("ParseMoney(%q) = %d, out of [0, MaxMoney]", s, int64(m))
		}
		// The reference: the digits without the point, scaled to cents.
		want, ok := new(big.Int).SetString(whole+frac+strings.Repeat("0", 2-len(frac)), 10)
		if !ok || !want.IsInt64() || want.Int64() != int64(m) {
			t.Fatalf("ParseMoney(%q) = %d, want %v", s, int64(m), want)
		}
		back, err := flashsale.ParseMoney(m.String())
		if err != nil || back != m {
			t.Fatalf("ParseMoney(%q) = %d, which prints as %q and parses back as %d, %v", s, int64(m), m.String(), int64(back), err)
		}
	})
}

func plainDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
