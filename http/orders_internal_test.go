package http

import (
	"bytes"
	"testing"
)

// placeOrderBodies are the bodies clients send and the near misses that
// must fall back to encoding/json.
var placeOrderBodies = []struct {
	body string
	fast bool // decodeFast takes it
}{
	{`{"item_id":"itm_01HX","quantity":1}`, true},
	{` {"quantity": 2 , "item_id" : "a-b_c.d"}` + "\r\n\t", true},
	{`{"item_id":"x"}`, true},
	{`{"quantity":0}`, true},
	{`{"quantity":123456789012345678901234567890}`, true},
	{`{}`, false},
	{`{"item_id":"caf\u00e9","quantity":1}`, false},
	{`{"item_id":"café","quantity":1}`, false},
	{`{"item_id":"a\"b","quantity":1}`, false},
	{"{\"item_id\":\"a\x7fb\",\"quantity\":1}", false},
	{"{\"item_id\":\"a\tb\",\"quantity\":1}", false},
	{`{"ITEM_ID":"x","quantity":1}`, false},
	{`{"item_id":"x","item_id":"y"}`, false},
	{`{"quantity":1,"quantity":2}`, false},
	{`{"item_id":"x","quantity":1,"extra":true}`, false},
	{`{"item_id":null,"quantity":1}`, false},
	{`{"item_id":1,"quantity":1}`, false},
	{`{"item_id":"x","quantity":"1"}`, false},
	{`{"item_id":"x","quantity":01}`, false},
	{`{"item_id":"x","quantity":-1}`, false},
	{`{"item_id":"x","quantity":1.0}`, false},
	{`{"item_id":"x","quantity":1e2}`, false},
	{`{"item_id":"x","quantity":1}{}`, false},
	{`{"item_id":"x","quantity":1},`, false},
	{`{"item_id":"x","quantity":1`, false},
	{`{"item_id":"x",}`, false},
	{`{"item_id":"x" "quantity":1}`, false},
	{`{"item_id":"x","quantity":1}` + "\v", false},
	{`["item_id","x"]`, false},
	{`{"item_id":"x","quantity":true}`, false},
}

func TestPlaceOrderFastDecode(t *testing.T) {
	for _, tt := range placeOrderBodies {
		var req placeOrderRequest
		if got := req.decodeFast([]byte(tt.body)); got != tt.fast {
			t.Errorf("decodeFast(%q) = %v, want %v", tt.body, got, tt.fast)
		}
	}
}

// Whatever decodeFast takes, encoding/json decodes to the same values; what
// it leaves, it leaves untouched. Run with -fuzz to search beyond the
// seeds.
func FuzzPlaceOrderFastDecode(f *testing.F) {
	for _, tt := range placeOrderBodies {
		f.Add(tt.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var fast placeOrderRequest
		if !fast.decodeFast([]byte(body)) {
			if fast.ItemID != "" || fast.Quantity != nil {
				t.Fatalf("decodeFast(%q) refused it but set %+v", body, fast)
			}
			return
		}
		var slow placeOrderRequest
		if err := decodeJSON([]byte(body), &slow); err != nil {
			t.Fatalf("decodeFast took %q, which encoding/json refuses: %v", body, err)
		}
		if fast.ItemID != slow.ItemID || !bytes.Equal(fast.Quantity, slow.Quantity) {
			t.Fatalf("%q: decodeFast gives %q %q, encoding/json %q %q", body, fast.ItemID, fast.Quantity, slow.ItemID, slow.Quantity)
		}
	})
}
