package http

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// locateProblem finds the JSON path of the first value in raw that does not
// fit t: an unknown field, or a value of the wrong JSON type. encoding/json
// names only the key of an unknown field and drops array indices from type
// errors; a client deserves "items[2].sale_price". It runs only after a
// decode has failed, so the happy path pays nothing for it.
func locateProblem(raw []byte, t reflect.Type) (path, problem string) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", ""
	}
	return walk(v, t, "")
}

func walk(v any, t reflect.Type, path string) (string, string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[json.RawMessage]() || v == nil {
		return "", ""
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return orRoot(path), "must be a JSON object"
		}
		fields := jsonFields(t)
		for key, child := range obj {
			f, ok := fields[key]
			if !ok {
				return join(path, key), fmt.Sprintf("unknown field %q", key)
			}
			if p, problem := walk(child, f.Type, join(path, key)); p != "" {
				return p, problem
			}
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return orRoot(path), "must be a JSON array"
		}
		for i, child := range arr {
			if p, problem := walk(child, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p, problem
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return orRoot(path), "must be a JSON string"
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(float64)
		if !ok || n != float64(int64(n)) {
			return orRoot(path), "must be a whole number"
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return orRoot(path), "must be true or false"
		}
	}
	return "", ""
}

func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "$"
	}
	return path
}
