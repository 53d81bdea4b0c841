package http

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/flashsale/flashsale"
)

// The request bodies decode reads, by the route that reads them.
var decodedBodies = []func() any{
	func() any { return new(createSaleRequest) },
	func() any { return new(changeSaleRequest) },
	func() any { return new(payRequest) },
	func() any { return new(placeOrderRequest) },
	func() any { return new(enterRequest) },
	func() any { return new(adjustQueueRequest) },
	func() any { return new(demoTokenRequest) },
	func() any { return new(struct{}) },
	func() any {
		return new(struct {
			Restock bool `json:"restock"`
		})
	},
}

// decodeJSON, the request bodies' decoder, takes only what encoding/json
// alone (no unknown fields) reads, as the same value, and no body with a
// key twice in an object or U+0000 in a string; what it refuses it refuses as invalid_request
// naming a field, never anything else. Run with -fuzz to search beyond
// the seeds.
func FuzzDecodeJSON(f *testing.F) {
	for kind, body := range []string{
		`{"name":"x","start_time":"2026-06-01T12:00:00Z","end_time":"2026-06-01T13:00:00Z","reservation_ttl_seconds":600,` +
			`"items":[{"product_id":"p","name":"n","original_price":"999.00","sale_price":"499.00","currency":"USD","total_quantity":10,"per_user_limit":1}],` +
			`"waiting_room":{"admit_per_minute":60,"overbook":1.5},"challenge":{"policy":"always","max_number":1000},` +
			`"limits":{"per_account":1},"lottery":{"entries_open":"2026-06-01T11:00:00Z","entries_close":"2026-06-01T11:30:00Z"}}`,
		`{"paused":true,"end_time":"2026-06-01T13:00:00Z","items":[{"item_id":"i","add_quantity":5}]}`,
		`{"payment_token":"tok_visa","payment_method":"credit_card"}`,
		`{"item_id":"i","quantity":1,"shipping_address":{"line1":"1 Main St"}}`,
		`{"item_id":"i"}`,
		`{"admit_per_minute":10,"max_active":5,"paused":false}`,
		`{"user":"alice"}`,
		`{}`,
		`{"restock":true}`,
	} {
		f.Add(uint8(kind), []byte(body))
	}
	for _, body := range []string{`{"items":[{"ſale_price":"1.00"}]}`, `{"items":[{"name":"a"},{"name":"a","name":"b"}]}`,
		`{"name":"x"}{}`, `{"name":"x"}]`, `{"NAME":"x"}`, `{"name":"\u006eame"}`, `{"items":[1]}`, `null`, `[]`, `"x"`,
		`{"reservation_ttl_seconds":1e400}`, `{"reservation_ttl_seconds":9223372036854775808}`, `{"limits":{"a":1,"a":1}}`,
		"{\"name\":\"\xff\"}", `{"name":"x",}`, `{"waiting_room":{"overbook":"1"}}`} {
		f.Add(uint8(0), []byte(body))
	}
	f.Fuzz(func(t *testing.T, kind uint8, raw []byte) {
		newBody := decodedBodies[int(kind)%len(decodedBodies)]
		got := newBody()
		err := decodeJSON(raw, got)
		if err != nil {
			e, ok := err.(*flashsale.Error)
			if !ok || e.Code != flashsale.EInvalidRequest || e.Field == "" || e.Message == "" {
				t.Fatalf("decodeJSON(%q) into %T: %#v, want invalid_request naming a field", raw, got, err)
			}
			return
		}
		want := newBody()
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(want); err != nil {
			t.Fatalf("decodeJSON took %q into %T, which encoding/json refuses: %v", raw, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeJSON(%q) = %+v, encoding/json %+v", raw, got, want)
		}
		if nulString(reflect.ValueOf(got)) {
			t.Fatalf("decodeJSON took %q, with U+0000 in a string: %+v", raw, got)
		}
		if key, ok := repeatedKey(json.NewDecoder(strings.NewReader(string(raw)))); ok {
			t.Fatalf("decodeJSON took %q, with the key %q twice in an object", raw, key)
		}
	})
}

// nulString reports whether a string in v holds U+0000.
func nulString(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer:
		return !v.IsNil() && nulString(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if nulString(v.Field(i)) {
				return true
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if nulString(v.Index(i)) {
				return true
			}
		}
	case reflect.String:
		return strings.Contains(v.String(), "\x00")
	}
	return false
}

// repeatedKey reports a key that appears twice in one object of the JSON
// value dec reads, at any depth.
func repeatedKey(dec *json.Decoder) (string, bool) {
	tok, err := dec.Token()
	if err != nil {
		return "", false
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return "", false
			}
			key, _ := tok.(string)
			if seen[key] {
				return key, true
			}
			seen[key] = true
			if key, ok := repeatedKey(dec); ok {
				return key, true
			}
		}
		dec.Token()
	case json.Delim('['):
		for dec.More() {
			if key, ok := repeatedKey(dec); ok {
				return key, true
			}
		}
		dec.Token()
	}
	return "", false
}

// The orders listing's query: what it takes is a known status, a limit
// from 1 to maxOrderPage and a cursor that is the base64 of a listing's
// order id as the listing writes it (so encoding the id again gives the
// cursor back: a cursor has one spelling); what it refuses it refuses as
// invalid_request naming the parameter. Run with -fuzz to search beyond
// the seeds.
func FuzzOrderListQuery(f *testing.F) {
	id := base64.RawURLEncoding.EncodeToString([]byte("ord_01HX"))
	for _, c := range [][3]string{
		{"", "", ""}, {"confirmed", id, "10"}, {"reserved", "", "1000"}, {"Confirmed", "", ""}, {"", "", "0"},
		{"", "", "1001"}, {"", "", "-1"}, {"", "", "+5"}, {"", "", "007"}, {"", "", "1e3"}, {"", "", "99999999999999999999"},
		{"", "AA", ""}, {"", "AB", ""}, {"", "A", ""}, {"", "AA==", ""}, {"", "b3JkXzAxSFg=", ""}, {"", "b3JkXzAxSFg\n", ""},
		{"", "a+b/", ""}, {"", strings.Repeat("A", 171), ""}, {"", strings.Repeat("A", 172), ""},
	} {
		f.Add(c[0], c[1], c[2])
	}
	f.Fuzz(func(t *testing.T, status, cursor, limit string) {
		values := url.Values{}
		for name, v := range map[string]string{"status": status, "cursor": cursor, "limit": limit} {
			if v != "" {
				values.Set(name, v)
			}
		}
		r := &http.Request{URL: &url.URL{Path: "/admin/flash-sales/s/orders", RawQuery: values.Encode()}}
		q, err := orderListQuery(r)
		if err != nil {
			e, ok := err.(*flashsale.Error)
			if !ok || e.Code != flashsale.EInvalidRequest || !slices.Contains([]string{"status", "cursor", "limit"}, e.Field) {
				t.Fatalf("status %q, cursor %q, limit %q: %#v, want invalid_request naming the parameter", status, cursor, limit, err)
			}
			return
		}
		if status != "" && (q.Status != flashsale.OrderStatus(status) || !slices.Contains(flashsale.OrderStatuses, q.Status)) {
			t.Fatalf("status %q read as %q", status, q.Status)
		}
		if cursor != "" && (len(q.After) == 0 || len(q.After) > 128 || base64.RawURLEncoding.EncodeToString([]byte(q.After)) != cursor) {
			t.Fatalf("cursor %q read as %q, which the listing writes as %q", cursor, q.After, base64.RawURLEncoding.EncodeToString([]byte(q.After)))
		}
		if q.Limit < 1 || q.Limit > maxOrderPage {
			t.Fatalf("limit %q read as %d", limit, q.Limit)
		}
	})
}

// clientIP, which walks X-Forwarded-For without joining its lines, picks
// what the plain reading picks (plainClientIP), whatever the peer and up
// to three header lines. Run with -fuzz to search beyond the seeds.
func FuzzClientIP(f *testing.F) {
	s := &server{Deps: Deps{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}}
	for _, c := range [][4]string{
		{"203.0.113.9:1", "198.51.100.1", "", ""},
		{"10.0.0.1:1", "", "", ""},
		{"10.0.0.1:1", "198.51.100.1, 10.0.0.2", "", ""},
		{"10.0.0.1:1", "1.1.1.1,198.51.100.1", "10.0.0.3 , 10.0.0.2", ""},
		{"10.0.0.1:1", "10.0.0.4", "10.0.0.2", "10.0.0.9"},
		{"10.0.0.1:1", "garbage, 10.0.0.2", "", ""},
		{"10.0.0.1:1", "198.51.100.1,,10.0.0.2", "", ""},
		{"[fd00::1]:1", "2001:db8::7, fd00::2", "", ""},
		{"[fd00::1%eth0]:1", "fe80::1%eth0", "", ""},
		{"10.0.0.1:1", "::ffff:198.51.100.8", "::ffff:10.0.0.8", ""},
		{"[::ffff:10.0.0.1]:1", "::ffff:10.0.0.8,", "", ""},
		{"10.0.0.1", "1.2.3.4", "", ""},
		{"", "", "", ""},
	} {
		f.Add(c[0], uint8(3), c[1], c[2], c[3])
	}
	f.Fuzz(func(t *testing.T, peer string, lines uint8, a, b, c string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{}}
		for _, line := range []string{a, b, c}[:lines%4] {
			r.Header.Add("X-Forwarded-For", line)
		}
		if got, want := s.clientIP(r), plainClientIP(s, r); got != want {
			t.Fatalf("peer %q, X-Forwarded-For %q: %v, want %v", peer, r.Header.Values("X-Forwarded-For"), got, want)
		}
	})
}

// What ParseThrottle takes is steps of finite positive rates, strictly
// ascending, with factors strictly between 0 and 1, strictly falling: one
// step per comma-separated item. Run with -fuzz to search beyond the seeds.
func FuzzParseThrottle(f *testing.F) {
	for _, s := range []string{"5000:0.5,20000:0.2", "off", "OFF", "", " ", "5000:0.5", "20000:0.2,5000:0.5", "5000:0.5,5000:0.2",
		"5000:0.2,20000:0.5", "0:0.5", "-1:0.5", "5000:1", "5000:0", "5000:-0.5", "Inf:0.5", "NaN:0.5", "5000:NaN",
		"1e308:0.5,1e309:0.2", "0x10:0.5", "5000 : 0.5", "5000:0.5,", ",", "5000", "5000:0.5:0.2", "1_000:0.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		steps, err := ParseThrottle(s)
		if err != nil {
			return
		}
		if steps == nil {
			if !strings.EqualFold(strings.TrimSpace(s), "off") {
				t.Fatalf("ParseThrottle(%q) turned throttling off", s)
			}
			return
		}
		if len(steps) != strings.Count(s, ",")+1 {
			t.Fatalf("ParseThrottle(%q) = %v: not one step per item", s, steps)
		}
		for i, step := range steps {
			if !(step.Above > 0) || math.IsInf(step.Above, 0) || !(step.Factor > 0 && step.Factor < 1) {
				t.Fatalf("ParseThrottle(%q): step %+v out of bounds", s, step)
			}
			if i > 0 && !(step.Above > steps[i-1].Above && step.Factor < steps[i-1].Factor) {
				t.Fatalf("ParseThrottle(%q) = %v: steps not ascending in rate and falling in factor", s, steps)
			}
		}
	})
}
