package http_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"mime"
	nethttp "net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/flashsale/flashsale/http"
)

// The contract check: every response the harness's do receives is held to
// openapi.json, the document the server serves. The operation is the one
// of the route the server's ServeMux matched (which the server reports to
// the harness, routeProbe below), the response object the one of its
// status (or the document's NXX or default, where it has them); a status
// the operation does not list fails the test. The content type must be one
// the response object lists, and a JSON body must validate against that
// media type's schema (JSON Schema 2020-12, santhosh-tekuri/jsonschema),
// as must a documented header's value.

// routeProbe, sent by do, asks the harness's server to report the route
// its ServeMux matched in routeHeader of the response (do removes it).
const (
	routeProbe  = "X-Test-Contract"
	routeHeader = "X-Test-Contract-Route"
)

// reportRoute wraps the server for the contract check: it tells do which
// ServeMux pattern served a probed request. ServeMux sets the pattern on
// the request it is handed, which is this one (no middleware before it
// copies the request), before its handler writes: so it is read as the
// response's header is sent. "-" means no pattern: the request was
// answered before the ServeMux (cleanPaths' 404s).
func reportRoute(next nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.Header.Get(routeProbe) == "" {
			next.ServeHTTP(w, r)
			return
		}
		r.Header.Del(routeProbe) // the server sees the request as the test sent it
		rw := &routeWriter{ResponseWriter: w, r: r}
		next.ServeHTTP(rw, r)
		rw.stamp() // a handler that wrote nothing: the header is not sent yet
	})
}

type routeWriter struct {
	nethttp.ResponseWriter
	r       *nethttp.Request
	stamped bool
}

func (w *routeWriter) stamp() {
	if !w.stamped {
		w.stamped = true
		w.Header().Set(routeHeader, cmp.Or(w.r.Pattern, "-"))
	}
}

func (w *routeWriter) WriteHeader(code int) {
	if code >= 200 { // a 1xx is not the response
		w.stamp()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *routeWriter) Write(b []byte) (int, error) {
	w.stamp()
	return w.ResponseWriter.Write(b)
}

func (w *routeWriter) Flush() {
	w.stamp()
	_ = nethttp.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (w *routeWriter) Unwrap() nethttp.ResponseWriter { return w.ResponseWriter }

// contract is openapi.json ready for checking responses: decoded once per
// test binary, each schema compiled once, when first needed.
type contract struct {
	doc map[string]any

	mu       sync.Mutex // guards compiler and schemas
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema // by JSON pointer into doc
}

// documentURL names the document as a schema resource; its schemas' local
// references ("#/components/schemas/Error") resolve within it. Nothing is
// fetched: the compiler loads no URL it was not given.
const documentURL = "https://flashsale.invalid/openapi.json"

var loadContract = sync.OnceValues(func() (*contract, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(http.OpenAPIDocument))
	if err != nil {
		return nil, err
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("openapi.json is not a JSON object")
	}
	closeResponseObjects(doc)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020) // the document's jsonSchemaDialect is 2020-12 plus annotations
	c.AssertFormat()                     // a date-time or uuid that is not one is a broken promise
	if err := c.AddResource(documentURL, doc); err != nil {
		return nil, err
	}
	return &contract{doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}}, nil
})

// closeResponseObjects reads the response schemas of the document as
// closed: every schema that an object enters at a new place (a response
// body, a property's value, an array's item) and that names properties
// gets "unevaluatedProperties": false, unless it says itself what other
// properties may be. A bare {"type": "object"} (an audit entry's copy of
// a request, the OpenAPI document itself) stays free. The served
// document stays open, as a client should not break on a field added
// later; the server is held to naming in it every field it sends. The
// keyword, unlike additionalProperties, counts the properties of the
// $ref, allOf, anyOf and oneOf beside it, so it is put where the value is
// entered, never inside those (where it would refuse its siblings'
// properties). Request schemas are changed alike; they are never checked.
func closeResponseObjects(doc map[string]any) {
	var walk func(v any, entered bool)
	walk = func(v any, entered bool) {
		s, ok := v.(map[string]any)
		if !ok {
			return
		}
		_, additional := s["additionalProperties"]
		_, unevaluated := s["unevaluatedProperties"]
		if entered && !additional && !unevaluated && namesProperties(doc, s, 0) {
			s["unevaluatedProperties"] = false
		}
		for _, key := range []string{"properties", "patternProperties", "dependentSchemas"} {
			m, _ := s[key].(map[string]any)
			for _, sub := range m {
				walk(sub, key != "dependentSchemas")
			}
		}
		for _, key := range []string{"additionalProperties", "items", "contains", "unevaluatedItems"} {
			walk(s[key], true)
		}
		for _, key := range []string{"not", "if", "then", "else"} {
			walk(s[key], false)
		}
		for _, key := range []string{"allOf", "anyOf", "oneOf", "prefixItems"} {
			list, _ := s[key].([]any)
			for _, sub := range list {
				walk(sub, key == "prefixItems")
			}
		}
	}
	schemas, _ := lookup(doc, "components", "schemas").(map[string]any)
	for _, s := range schemas {
		walk(s, false) // entered through a $ref, in place
	}
	eachResponse := func(v any) {
		resp, _ := v.(map[string]any)
		content, _ := resp["content"].(map[string]any)
		for _, media := range content {
			m, _ := media.(map[string]any)
			walk(m["schema"], true)
		}
	}
	responses, _ := lookup(doc, "components", "responses").(map[string]any)
	for _, r := range responses {
		eachResponse(r)
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, item := range paths {
		ops, _ := item.(map[string]any)
		for _, op := range ops {
			rs, _ := lookup(op, "responses").(map[string]any)
			for _, r := range rs {
				eachResponse(r)
			}
		}
	}
}

// namesProperties reports whether the schema s, with what it refers to
// and composes in place, names any property.
func namesProperties(doc map[string]any, s map[string]any, depth int) bool {
	if depth > 10 {
		return false
	}
	if _, ok := s["properties"]; ok {
		return true
	}
	if ref, ok := s["$ref"].(string); ok {
		var target any = doc
		for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			target = lookup(target, strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~"))
		}
		if t, ok := target.(map[string]any); ok && namesProperties(doc, t, depth+1) {
			return true
		}
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := s[key].([]any)
		for _, sub := range list {
			if m, ok := sub.(map[string]any); ok && namesProperties(doc, m, depth+1) {
				return true
			}
		}
	}
	return false
}

// lookup follows keys through nested JSON objects; nil if one is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// schema compiles, once, the schema at the JSON pointer ptr of the document.
func (c *contract) schema(ptr string) (*jsonschema.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.schemas[ptr]; ok {
		return s, nil
	}
	s, err := c.compiler.Compile(documentURL + "#" + fragment(ptr))
	if err != nil {
		return nil, err
	}
	c.schemas[ptr] = s
	return s, nil
}

// fragment escapes a JSON pointer for a URI fragment (the path templates'
// braces).
func fragment(ptr string) string {
	var b strings.Builder
	for i := range len(ptr) {
		ch := ptr[i]
		if ch == '/' || ch == '~' || ch == '-' || ch == '_' || ch == '.' ||
			'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// pointerToken escapes a key for a JSON pointer.
func pointerToken(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

// at returns the value at the JSON pointer ptr and, if that is a local
// reference, what it refers to and where.
func (c *contract) at(ptr string) (any, string, error) {
	for range 10 { // a chain of references is short; a loop is a bug
		var v any = c.doc
		for _, tok := range strings.Split(ptr, "/")[1:] {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, ptr, fmt.Errorf("%s: not in the document", ptr)
			}
			if v, ok = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]; !ok {
				return nil, ptr, fmt.Errorf("%s: not in the document", ptr)
			}
		}
		m, _ := v.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return v, ptr, nil
		}
		ptr, ok = strings.CutPrefix(ref, "#")
		if !ok {
			return nil, ptr, fmt.Errorf("$ref %q is not local", ref)
		}
	}
	return nil, ptr, fmt.Errorf("%s: references loop", ptr)
}

// wildcardSegment is a ServeMux wildcard: {name}, {name...} or {$}.
var wildcardSegment = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(?:\.\.\.)?\}|\{\$\}`)

// template turns a ServeMux path into the document's path template.
func template(muxPath string) string {
	return wildcardSegment.ReplaceAllStringFunc(muxPath, func(w string) string {
		if w == "{$}" {
			return ""
		}
		return "{" + wildcardSegment.FindStringSubmatch(w)[1] + "}"
	})
}

// responseOf finds the response object the document has for status in
// the responses object at ptr: the status itself, its class (4XX) or
// default. ok is false when the operation lists none of them.
func (c *contract) responseOf(ptr string, status int) (resp map[string]any, at string, ok bool, err error) {
	v, ptr, err := c.at(ptr)
	if err != nil {
		return nil, "", false, err
	}
	responses, _ := v.(map[string]any)
	for _, key := range []string{strconv.Itoa(status), strconv.Itoa(status/100) + "XX", "default"} {
		if _, ok := responses[key]; !ok {
			continue
		}
		v, at, err := c.at(ptr + "/" + key)
		if err != nil {
			return nil, "", false, err
		}
		resp, _ := v.(map[string]any)
		return resp, at, true, nil
	}
	return nil, "", false, nil
}

// checked says how far check held a response to the document.
type checked int

const (
	uncheckedResponse checked = iota // not the API's answer
	checkedStatus                    // its status, headers and content type
	checkedBody                      // and its JSON body against the schema
)

// check holds one response to the document; it returns what is wrong, or
// nil. route is what reportRoute said: "" when the server did not say (an
// answer of net/http itself, before any handler: nothing of the API's).
func (c *contract) check(method, route string, r *response) (checked, error) {
	if route == "" {
		return uncheckedResponse, nil // net/http's own answer (a malformed request): not the API's
	}
	var responsesAt, where string
	switch routeMethod, muxPath, hasMethod := strings.Cut(route, " "); {
	case hasMethod:
		// The route of an operation; a HEAD is served by its GET.
		path := template(muxPath)
		where = routeMethod + " " + path
		responsesAt = "/paths/" + pointerToken(path) + "/" + strings.ToLower(routeMethod) + "/responses"
	case route == "-" || route == "/":
		// No route: cleanPaths' refusals and the 404 of any unknown path,
		// answered by no operation; they are the API's errors all the same.
		if r.Status < 400 {
			return checkedStatus, fmt.Errorf("status %d answered by no route", r.Status)
		}
		ptr := "/components/schemas/Error"
		if err := c.checkJSON(r, ptr); err != nil {
			return checkedBody, fmt.Errorf("no route: %w", err)
		}
		return checkedBody, nil
	default:
		// A known path without the method (405): every operation of the
		// path promises that answer.
		path := template(route)
		where = method + " " + path + " (no such operation)"
		item, _, err := c.at("/paths/" + pointerToken(path))
		if err != nil {
			return uncheckedResponse, err
		}
		ops := slices.Sorted(maps.Keys(item.(map[string]any)))
		ops = slices.DeleteFunc(ops, func(k string) bool { return k == "parameters" || strings.HasPrefix(k, "x-") })
		if len(ops) == 0 {
			return uncheckedResponse, fmt.Errorf("%s: the document has no operation there", where)
		}
		for _, op := range ops[1:] {
			if _, _, ok, _ := c.responseOf("/paths/"+pointerToken(path)+"/"+op+"/responses", r.Status); !ok {
				return checkedStatus, fmt.Errorf("%s: status %d is not documented for %s %s", where, r.Status, strings.ToUpper(op), path)
			}
		}
		responsesAt = "/paths/" + pointerToken(path) + "/" + ops[0] + "/responses"
	}

	resp, respAt, ok, err := c.responseOf(responsesAt, r.Status)
	if err != nil {
		return uncheckedResponse, err
	}
	if !ok {
		v, _, _ := c.at(responsesAt)
		listed, _ := v.(map[string]any)
		return checkedStatus, fmt.Errorf("%s: status %d is not documented (the operation lists %s)",
			where, r.Status, strings.Join(slices.Sorted(maps.Keys(listed)), ", "))
	}
	if err := c.checkHeaders(r, resp, respAt); err != nil {
		return checkedStatus, fmt.Errorf("%s %d: %w", where, r.Status, err)
	}
	// No body to check: a HEAD's and a 304's are empty by definition.
	if method == "HEAD" || r.Status == nethttp.StatusNotModified {
		return checkedStatus, nil
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(r.Body) > 0 {
			return checkedStatus, fmt.Errorf("%s %d: a body, where the document has none", where, r.Status)
		}
		return checkedStatus, nil
	}
	got := r.Header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(got)
	if err != nil {
		return checkedStatus, fmt.Errorf("%s %d: Content-Type %q: %v", where, r.Status, got, err)
	}
	key, ok := matchMediaType(content, mediaType)
	if !ok {
		return checkedStatus, fmt.Errorf("%s %d: Content-Type %q, the document lists %s",
			where, r.Status, got, strings.Join(slices.Sorted(maps.Keys(content)), ", "))
	}
	if mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json") {
		// text/plain lists, text/csv, HTML pages, scripts and styles, an
		// event stream: their schemas, where they have one, say "a string",
		// so the media type is all there is to hold them to.
		return checkedStatus, nil
	}
	mediaAt := respAt + "/content/" + pointerToken(key)
	if _, ok := content[key].(map[string]any)["schema"]; !ok {
		return checkedStatus, nil // the document promises JSON, and no shape
	}
	if err := c.checkJSON(r, mediaAt+"/schema"); err != nil {
		return checkedBody, fmt.Errorf("%s %d: %w", where, r.Status, err)
	}
	return checkedBody, nil
}

// checkJSON validates the body against the schema at ptr.
func (c *contract) checkJSON(r *response, ptr string) error {
	schema, err := c.schema(ptr)
	if err != nil {
		return fmt.Errorf("compiling the schema: %v", err)
	}
	body, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Body))
	if err != nil {
		return fmt.Errorf("the body is not JSON: %v", err)
	}
	if err := schema.Validate(body); err != nil {
		var verr *jsonschema.ValidationError
		if errors.As(err, &verr) {
			return fmt.Errorf("the body does not match its schema: %#v", verr)
		}
		return err
	}
	return nil
}

// checkHeaders validates each documented header the response has against
// its schema (Retry-After a whole number of seconds, at least 1).
func (c *contract) checkHeaders(r *response, resp map[string]any, respAt string) error {
	headers, _ := resp["headers"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		value := r.Header.Get(name)
		if value == "" {
			continue // no header is required of a response here
		}
		header, at, err := c.at(respAt + "/headers/" + pointerToken(name))
		if err != nil {
			return err
		}
		schemaValue, ok := header.(map[string]any)["schema"]
		if !ok {
			continue
		}
		schema, err := c.schema(at + "/schema")
		if err != nil {
			return fmt.Errorf("header %s: compiling the schema: %v", name, err)
		}
		var v any = value
		if t, _ := schemaValue.(map[string]any)["type"].(string); t == "integer" || t == "number" {
			if n, err := jsonschema.UnmarshalJSON(strings.NewReader(value)); err == nil {
				v = n
			}
		}
		if err := schema.Validate(v); err != nil {
			return fmt.Errorf("header %s: %q does not match its schema: %v", name, value, err)
		}
	}
	return nil
}

// matchMediaType finds the content key for a response's media type: the
// type itself, then type/*, then */*.
func matchMediaType(content map[string]any, mediaType string) (string, bool) {
	major, _, _ := strings.Cut(mediaType, "/")
	for _, want := range []string{mediaType, major + "/*", "*/*"} {
		for key := range content {
			mt, _, err := mime.ParseMediaType(key)
			if err == nil && strings.EqualFold(mt, want) {
				return key, true
			}
		}
	}
	return "", false
}

// The check is not a rubber stamp: each way a response can break the
// document is caught, and a response that keeps it passes.
func TestContractCheck(t *testing.T) {
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	jsonHeader := nethttp.Header{"Content-Type": {"application/json"}}
	notFound := []byte(`{"error":{"code":"order_not_found","message":"no such order"}}`)
	for _, tc := range []struct {
		name, method, route string
		r                   response
		wrong               string // in the error; "": none
	}{
		{"a documented error", "GET", "GET /orders/{order_id}",
			response{404, jsonHeader, notFound}, ""},
		{"a status the operation does not list", "GET", "GET /orders/{order_id}",
			response{418, jsonHeader, notFound}, "status 418 is not documented"},
		{"a body of another shape", "GET", "GET /orders/{order_id}",
			response{404, jsonHeader, []byte(`{"error":"order_not_found"}`)}, "does not match its schema"},
		{"a code the document does not know", "GET", "GET /orders/{order_id}",
			response{404, jsonHeader, []byte(`{"error":{"code":"gone","message":"m"}}`)}, "does not match its schema"},
		{"a field the document does not name", "GET", "GET /orders/{order_id}",
			response{404, jsonHeader, []byte(`{"error":{"code":"order_not_found","message":"m"},"hint":"x"}`)}, "/hint"},
		{"a body that is not JSON", "GET", "GET /orders/{order_id}",
			response{404, jsonHeader, []byte(`not found`)}, "not JSON"},
		{"an undocumented content type", "GET", "GET /orders/{order_id}",
			response{404, nethttp.Header{"Content-Type": {"text/plain"}}, notFound}, "Content-Type"},
		{"a header out of its schema", "GET", "GET /orders/{order_id}",
			response{503, nethttp.Header{"Content-Type": {"application/json"}, "Retry-After": {"0"}},
				[]byte(`{"error":{"code":"service_unavailable","message":"m"}}`)}, "header Retry-After"},
		{"a 405 of a known path", "DELETE", "/orders/{order_id}",
			response{405, jsonHeader, []byte(`{"error":{"code":"method_not_allowed","message":"m"}}`)}, ""},
		{"a 404 of no route", "GET", "/",
			response{404, jsonHeader, []byte(`{"error":{"code":"not_found","message":"m"}}`)}, ""},
		{"a success of no route", "GET", "/",
			response{200, jsonHeader, []byte(`{}`)}, "answered by no route"},
		{"a HEAD: no body to check", "HEAD", "GET /orders/{order_id}",
			response{404, jsonHeader, nil}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.check(tc.method, tc.route, &tc.r)
			switch {
			case tc.wrong == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wrong != "" && err == nil:
				t.Errorf("accepted, want an error saying %q", tc.wrong)
			case tc.wrong != "" && !strings.Contains(err.Error(), tc.wrong):
				t.Errorf("error %q, want one saying %q", err, tc.wrong)
			}
		})
	}
}
