package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/flashsale/flashsale"
)

// checkKeys refuses the bodies that encoding/json reads without a word
// but that another reader of the same bytes may read otherwise: an object
// with a key twice (encoding/json keeps the last, nginx's routing on
// item_id and most other parsers the first) and a key that matches a
// field of t only case-insensitively ("ITEM_ID" for "item_id"). Every key
// of the API's bodies is then exactly one field, spelled as documented.
// It also refuses anything after the body's one value, and a string that
// holds U+0000: PostgreSQL's text cannot store it, so the distributed
// deployments failed such a sale with a 500 where the embedded one stored
// it. raw is a body that
// encoding/json has decoded into a t; the problem's field is the key's
// JSON path, as decodeJSON names an unknown field.
func checkKeys(raw []byte, t reflect.Type) error {
	s := keyScanner{raw: raw}
	if err := s.value(t, ""); err != nil {
		if err == errNUL {
			return nulAt("$")
		}
		return err
	}
	if skipSpace(raw, s.i) != len(raw) {
		return flashsale.InvalidField("$", "the body must hold one JSON object")
	}
	return nil
}

// keyScanner walks a JSON value beside the Go type it was decoded into.
type keyScanner struct {
	raw []byte
	i   int
}

var errNotJSON = flashsale.InvalidField("$", "the body is not valid JSON")

// errNUL is a string value holding U+0000, before its path is known: the
// object or array around it names it (nulAt), so that a path is made only
// for a body refused.
var errNUL = errors.New("a string holds U+0000")

func nulAt(path string) error {
	return flashsale.InvalidField(path, "%s holds the character U+0000, which no text field may hold", path)
}

func (s *keyScanner) value(t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		t = nil // a value kept as it came: its keys still may not repeat
	}
	s.i = skipSpace(s.raw, s.i)
	if s.i == len(s.raw) {
		return errNotJSON
	}
	switch s.raw[s.i] {
	case '{':
		return s.object(t, path)
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		s.i++
		for n := 0; ; n++ {
			s.i = skipSpace(s.raw, s.i)
			if s.i < len(s.raw) && s.raw[s.i] == ']' && n == 0 {
				s.i++
				return nil
			}
			var elemPath string // made for an object or an array alone, as in object
			if s.i < len(s.raw) && (s.raw[s.i] == '{' || s.raw[s.i] == '[') {
				elemPath = fmt.Sprintf("%s[%d]", path, n)
			}
			if err := s.value(elem, elemPath); err != nil {
				if err == errNUL {
					return nulAt(fmt.Sprintf("%s[%d]", path, n))
				}
				return err
			}
			if done, err := s.next(']'); done || err != nil {
				return err
			}
		}
	case '"':
		quoted, ok := s.str()
		if !ok {
			return errNotJSON
		}
		if hasNUL(quoted) {
			return errNUL
		}
		return nil
	default: // a number, true, false or null
		for s.i < len(s.raw) {
			switch s.raw[s.i] {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				return nil
			}
			s.i++
		}
		return nil
	}
}

// object checks an object's keys: each once, and, when t is a struct,
// each spelled exactly as one of its fields.
func (s *keyScanner) object(t reflect.Type, path string) error {
	var fields *structFields
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = fieldsOf(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	var seenField uint64     // fields seen, by index, when t is a struct of at most 64
	var seen map[string]bool // keys seen otherwise
	s.i++
	for n := 0; ; n++ {
		s.i = skipSpace(s.raw, s.i)
		if s.i < len(s.raw) && s.raw[s.i] == '}' && n == 0 {
			s.i++
			return nil
		}
		rawKey, ok := s.key()
		if !ok {
			return errNotJSON
		}
		s.i = skipSpace(s.raw, s.i)
		if s.i == len(s.raw) || s.raw[s.i] != ':' {
			return errNotJSON
		}
		s.i++
		childType, recorded := elem, false
		if fields != nil {
			index, ok := fields.index[string(rawKey)] // no copy made for a lookup
			if !ok {
				key := string(rawKey)
				for _, name := range fields.names {
					if strings.EqualFold(key, name) {
						return flashsale.InvalidField(join(path, key), "unknown field %q: keys are case-sensitive; the field is %q", key, name)
					}
				}
				return flashsale.InvalidField(join(path, key), "unknown field %q", key)
			}
			childType = fields.types[index]
			if index < 64 {
				if seenField&(1<<index) != 0 {
					return duplicateKey(path, string(rawKey))
				}
				seenField |= 1 << index
				recorded = true
			}
		}
		if !recorded {
			if seen[string(rawKey)] {
				return duplicateKey(path, string(rawKey))
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[string(rawKey)] = true
		}
		// Only an object or an array can hold a problem to name: a path
		// is made for them alone.
		var childPath string
		if s.i = skipSpace(s.raw, s.i); s.i < len(s.raw) && (s.raw[s.i] == '{' || s.raw[s.i] == '[') {
			childPath = join(path, string(rawKey))
		}
		if err := s.value(childType, childPath); err != nil {
			if err == errNUL {
				return nulAt(join(path, string(rawKey)))
			}
			return err
		}
		if done, err := s.next('}'); done || err != nil {
			return err
		}
	}
}

func duplicateKey(path, key string) error {
	return flashsale.InvalidField(join(path, key), "the key %q appears more than once; send each field once", key)
}

// next reads the comma between two members of an array or object, or its
// closing bracket (done).
func (s *keyScanner) next(closing byte) (done bool, err error) {
	s.i = skipSpace(s.raw, s.i)
	switch {
	case s.i == len(s.raw):
		return false, errNotJSON
	case s.raw[s.i] == closing:
		s.i++
		return true, nil
	case s.raw[s.i] == ',':
		s.i++
		return false, nil
	}
	return false, errNotJSON
}

// str reads the string at s.i, escapes and all, and returns its bytes
// between the quotes.
func (s *keyScanner) str() ([]byte, bool) {
	if s.i == len(s.raw) || s.raw[s.i] != '"' {
		return nil, false
	}
	start := s.i
	for j := start + 1; j < len(s.raw); j++ {
		switch s.raw[j] {
		case '\\':
			j++
		case '"':
			s.i = j + 1
			return s.raw[start : j+1], true
		}
	}
	return nil, false
}

// hasNUL reports whether a quoted JSON string holds U+0000, which JSON
// can only write as the escape \u0000 (a raw control byte is not JSON).
func hasNUL(quoted []byte) bool {
	for j := 1; j < len(quoted)-1; j++ {
		if quoted[j] == '\\' {
			if quoted[j+1] == 'u' && j+6 <= len(quoted) && string(quoted[j+2:j+6]) == "0000" {
				return true
			}
			j++ // the escaped character, a backslash included
		}
	}
	return false
}

// key reads an object's key as encoding/json reads it: escapes undone and
// bytes that are not UTF-8 replaced, so that "item\u005fid" is item_id.
// A plain key is returned in place, uncopied.
func (s *keyScanner) key() ([]byte, bool) {
	quoted, ok := s.str()
	if !ok {
		return nil, false
	}
	plain := true
	for _, c := range quoted {
		if c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return quoted[1 : len(quoted)-1], true
	}
	var key string
	if err := json.Unmarshal(quoted, &key); err != nil {
		return nil, false
	}
	return []byte(key), true
}

// structFields are the JSON names of a struct's fields, as encoding/json
// names them (the tag's name, else the Go name; unexported fields and "-"
// left out), in the struct's order, and their types.
type structFields struct {
	names []string
	types []reflect.Type
	index map[string]int
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: map[string]int{}}
	for field := range t.Fields() {
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		if !field.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = field.Name
		}
		f.index[name] = len(f.names)
		f.names = append(f.names, name)
		f.types = append(f.types, field.Type)
	}
	fieldCache.Store(t, f)
	return f
}
