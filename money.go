package flashsale

import (
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in minor units (cents). Floating point never touches a
// price: amounts are parsed from and rendered as decimal strings with two
// places, as the API carries them.
type Money int64

// MaxMoney bounds parsed amounts so that quantity * price cannot overflow.
const MaxMoney Money = 1_000_000_000_00

// ParseMoney parses "129.00", "129.5" or "129" into minor units. Negative
// amounts, more than two decimal places, signs, exponents and amounts above
// MaxMoney are refused.
func ParseMoney(s string) (Money, error) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) || (hasPoint && (frac == "" || len(frac) > 2 || !allDigits(frac))) {
		return 0, fmt.Errorf("%q is not a decimal amount with at most two places", s)
	}
	if len(whole) > 12 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	units, _ := strconv.ParseInt(whole, 10, 64)
	cents := int64(0)
	if frac != "" {
		for len(frac) < 2 {
			frac += "0"
		}
		cents, _ = strconv.ParseInt(frac, 10, 64)
	}
	m := Money(units*100 + cents)
	if m > MaxMoney {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return m, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// String renders the amount with two decimal places, e.g. "499.00".
func (m Money) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return fmt.Sprintf("%s%d.%02d", sign, int64(m)/100, int64(m)%100)
}
