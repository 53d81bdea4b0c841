package http

// A speed shortcut of place-order, apart from the contract code: the
// common body decoded by hand, held to decodeJSON's answers by
// FuzzPlaceOrderFastDecode; the figures it buys are in docs/BENCHMARKS.md
// (the sold-out path).

// decodeFast reads the body every client sends, {"item_id":"...",
// "quantity":N} (either key may be left out or come first), with JSON's
// whitespace anywhere between tokens: an item id of printable ASCII
// without escapes, a quantity of digits without a leading zero. Such a
// body decodes to the same values under decodeJSON; every other body
// (escapes, other keys, a fraction, null, and a key twice or in other
// case, which decodeJSON refuses) is left to it. The rush
// sends this body hundreds of thousands of times a second, where
// encoding/json's share of a sold-out answer shows (docs/BENCHMARKS.md).
func (req *placeOrderRequest) decodeFast(raw []byte) bool {
	var (
		itemID            string
		quantity          []byte
		seenItem, seenQty bool
	)
	i := skipSpace(raw, 0)
	if i == len(raw) || raw[i] != '{' {
		return false
	}
	i = skipSpace(raw, i+1)
	for {
		key, next, ok := plainString(raw, i)
		if !ok {
			return false
		}
		i = skipSpace(raw, next)
		if i == len(raw) || raw[i] != ':' {
			return false
		}
		i = skipSpace(raw, i+1)
		switch string(key) {
		case "item_id":
			value, next, ok := plainString(raw, i)
			if !ok || seenItem {
				return false
			}
			itemID, seenItem, i = string(value), true, next
		case "quantity":
			end := i
			for end < len(raw) && '0' <= raw[end] && raw[end] <= '9' {
				end++
			}
			if end == i || raw[i] == '0' && end-i > 1 || seenQty {
				return false
			}
			quantity, seenQty, i = raw[i:end], true, end
		default:
			return false
		}
		i = skipSpace(raw, i)
		if i == len(raw) {
			return false
		}
		if raw[i] == '}' {
			break
		}
		if raw[i] != ',' {
			return false
		}
		i = skipSpace(raw, i+1)
	}
	if skipSpace(raw, i+1) != len(raw) {
		return false
	}
	req.ItemID, req.Quantity = itemID, quantity
	return true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at i whose bytes are printable ASCII
// without escapes, so that its contents are its bytes; it returns them and
// the index after the closing quote.
func plainString(raw []byte, i int) (contents []byte, next int, ok bool) {
	if i == len(raw) || raw[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return raw[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}
