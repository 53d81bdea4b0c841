package http

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/flashsale/flashsale"
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

// Whatever decodeFast takes, decodeJSON decodes to the same values; what
// it leaves, it leaves untouched; and neither reads a body whose object
// has a key twice or one of its keys in other case, which nginx and
// encoding/json would read differently. Run with -fuzz to search beyond
// the seeds.
func FuzzPlaceOrderFastDecode(f *testing.F) {
	for _, tt := range placeOrderBodies {
		f.Add(tt.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var either placeOrderRequest
		if either.decodeFast([]byte(body)) || decodeJSON([]byte(body), &either) == nil {
			if key, ok := ambiguousKey(body); ok {
				t.Fatalf("%q was read, with a key %q that is not one of the fields once, spelled exactly", body, key)
			}
		}
		var fast placeOrderRequest
		if !fast.decodeFast([]byte(body)) {
			if fast.ItemID != "" || fast.Quantity != nil {
				t.Fatalf("decodeFast(%q) refused it but set %+v", body, fast)
			}
			return
		}
		var slow placeOrderRequest
		if err := decodeJSON([]byte(body), &slow); err != nil {
			t.Fatalf("decodeFast took %q, which decodeJSON refuses: %v", body, err)
		}
		if fast.ItemID != slow.ItemID || !bytes.Equal(fast.Quantity, slow.Quantity) {
			t.Fatalf("%q: decodeFast gives %q %q, encoding/json %q %q", body, fast.ItemID, fast.Quantity, slow.ItemID, slow.Quantity)
		}
	})
}

// decodeJSON refuses what encoding/json alone would read silently: a key
// twice in an object (at any depth, whatever the value's type) and a key
// matching a field only case-insensitively, as Unicode folds it; and
// anything after the body's one value. It names the key's path.
func TestDecodeJSONRefusesRepeatedAndCaseVariantKeys(t *testing.T) {
	refused := []struct {
		v           any
		body, field string
	}{
		{&placeOrderRequest{}, `{"item_id":"a","ITEM_ID":"b"}`, "ITEM_ID"},
		{&placeOrderRequest{}, `{"item_id":"a","item_id":"b"}`, "item_id"},
		{&placeOrderRequest{}, `{"item_id":"a","item_id":"a"}`, "item_id"},
		{&placeOrderRequest{}, `{"Item_Id":"a"}`, "Item_Id"},
		{&placeOrderRequest{}, `{"item_id":"a","\u0071uantity":1,"quantity":2}`, "quantity"},
		{&placeOrderRequest{}, `{"quantity":{"n":1,"n":2}}`, "quantity.n"},
		{&placeOrderRequest{}, `{"quantity":[{},{"n":1,"n":2}]}`, "quantity[1].n"},
		{&payRequest{}, `{"payment_token":"t","payment_method":"m","payment_method":"n"}`, "payment_method"},
		{&payRequest{}, "{\"payment_token\":\"t\",\"payment_method\":\"m\",\"payment_method\":\"n\"}", "payment_method"},
		// U+017F LATIN SMALL LETTER LONG S folds to s: encoding/json matches it.
		{&createSaleRequest{}, `{"name":"x","items":[{"ſale_price":"1.00"}]}`, "items[0].ſale_price"},
		{&createSaleRequest{}, `{"items":[{"name":"a"},{"name":"a","name":"b"}]}`, "items[1].name"},
		{&createSaleRequest{}, `{"items":[],"items":[]}`, "items"},
		// U+0000: PostgreSQL's text cannot hold it (FuzzRequestBodies).
		{&createSaleRequest{}, `{"name":"a\u0000"}`, "name"},
		{&createSaleRequest{}, `{"items":[{"name":"b"},{"product_id":"\u0000"}]}`, "items[1].product_id"},
		{&placeOrderRequest{}, `{"item_id":"i","quantity":["\u0000"]}`, "quantity[0]"},
		{&struct{}{}, `{}}`, "$"},
		{&placeOrderRequest{}, `{"item_id":"a","quantity":1}}`, "$"},
		{&placeOrderRequest{}, `{"item_id":"a","quantity":1}]`, "$"},
	}
	for _, c := range refused {
		err := decodeJSON([]byte(c.body), c.v)
		e, ok := asError(err)
		if !ok || e.Code != flashsale.EInvalidRequest || e.Field != c.field {
			t.Errorf("%s: %v, want invalid_request naming %s", c.body, err, c.field)
		}
	}
	accepted := []struct {
		v    any
		body string
	}{
		{&placeOrderRequest{}, `{"item_id":"{\"item_id\":1,\"item_id\":2}","quantity":1}`},
		{&placeOrderRequest{}, `{"item_id":"a\\","quantity":{"n":1,"N":2,"m":[1,{"n":1}]}}`},
		{&createSaleRequest{}, `{"name":"x","items":[{"name":"a","total_quantity":1},{"name":"a","total_quantity":1}]}` + " \n"},
		{&createSaleRequest{}, `{"items":[ ],"name":null}`},
		{&struct{}{}, ` { } `},
		{&createSaleRequest{}, `{"name":"a\\u0000"}`},
	}
	for _, c := range accepted {
		if err := decodeJSON([]byte(c.body), c.v); err != nil {
			t.Errorf("%s: %v", c.body, err)
		}
	}
}

// ambiguousKey reports a key of the body's outer object that is not
// exactly item_id or quantity, or that comes twice, by encoding/json's
// tokenizer: a check apart from checkKeys.
func ambiguousKey(body string) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		if key != "item_id" && key != "quantity" || seen[key] {
			return key, true
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}
