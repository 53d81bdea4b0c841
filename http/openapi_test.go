package http

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// loadOpenAPI decodes the embedded document served at GET /openapi.json.
func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// lookup follows keys through nested JSON objects.
func lookup(v any, keys ...string) (any, bool) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	version, _ := doc["openapi"].(string)
	if !strings.HasPrefix(version, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", version)
	}
	for _, key := range []string{"info", "paths", "components"} {
		if _, ok := doc[key].(map[string]any); !ok {
			t.Errorf("the document has no %q object", key)
		}
	}
}

// registeredRoutes reads routes.go and returns the pattern of every
// t.add("METHOD /path", ...) call, so that the list is never duplicated here.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "routes.go", nil, 0)
	if err != nil {
		t.Fatalf("parse routes.go: %v", err)
	}
	var routes []string
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "add" {
			return true
		}
		if recv, ok := sel.X.(*ast.Ident); !ok || recv.Name != "t" {
			return true
		}
		if len(call.Args) == 0 {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("%s: the route pattern is not a string literal, so it cannot be checked against openapi.json", fset.Position(call.Pos()))
			return true
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Errorf("%s: %v", fset.Position(lit.Pos()), err)
			return true
		}
		routes = append(routes, pattern)
		return true
	})
	if len(routes) == 0 {
		t.Fatal("found no t.add(\"METHOD /path\", ...) calls in routes.go")
	}
	return routes
}

// wildcard matches a ServeMux path wildcard: {name}, {name...} or {$}.
var wildcard = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}|\{\$\}`)

// openAPIPath turns a ServeMux path into an OpenAPI path template and the
// names of its parameters.
func openAPIPath(muxPath string) (string, []string) {
	var params []string
	path := wildcard.ReplaceAllStringFunc(muxPath, func(w string) string {
		if w == "{$}" {
			return ""
		}
		name := wildcard.FindStringSubmatch(w)[1]
		params = append(params, name)
		return "{" + name + "}"
	})
	return path, params
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	paths, _ := doc["paths"].(map[string]any)
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	for _, route := range registeredRoutes(t) {
		method, muxPath, ok := strings.Cut(route, " ")
		if !ok || !strings.HasPrefix(muxPath, "/") {
			t.Errorf("route %q is not of the form \"METHOD /path\"", route)
			continue
		}
		path, params := openAPIPath(muxPath)
		item, ok := paths[path].(map[string]any)
		if !ok {
			t.Errorf("route %q: paths has no %q", route, path)
			continue
		}
		method = strings.ToLower(method)
		if !slices.Contains(methods, method) {
			t.Errorf("route %q: %q is not an OpenAPI operation", route, method)
			continue
		}
		op, ok := item[method].(map[string]any)
		if !ok {
			t.Errorf("route %q: paths[%q] has no %q operation", route, path, method)
			continue
		}
		if responses, _ := op["responses"].(map[string]any); len(responses) == 0 {
			t.Errorf("route %q: the operation documents no responses", route)
		}
		// Every path wildcard is declared as a required path parameter,
		// at the path or the operation level.
		declared := map[string]bool{}
		for _, list := range []any{item["parameters"], op["parameters"]} {
			ps, _ := list.([]any)
			for _, p := range ps {
				p = resolve(t, doc, p)
				if in, _ := lookup(p, "in"); in == "path" {
					name, _ := lookup(p, "name")
					required, _ := lookup(p, "required")
					if required != true {
						t.Errorf("route %q: path parameter %v is not required", route, name)
					}
					declared[name.(string)] = true
				}
			}
		}
		for _, name := range params {
			if !declared[name] {
				t.Errorf("route %q: path parameter %q is not declared", route, name)
			}
		}
	}
}

// resolve follows a local $ref, if v is one.
func resolve(t *testing.T, doc map[string]any, v any) any {
	t.Helper()
	ref, ok := lookup(v, "$ref")
	if !ok {
		return v
	}
	target, err := pointer(doc, ref.(string))
	if err != nil {
		t.Errorf("%v", err)
		return nil
	}
	return target
}

// pointer resolves a local reference such as "#/components/schemas/Error".
func pointer(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, &refError{ref, "is not a local reference (#/...)"}
	}
	var v any = doc
	if rest == "" {
		return v, nil
	}
	if !strings.HasPrefix(rest, "/") {
		return nil, &refError{ref, "is not a JSON pointer"}
	}
	for _, token := range strings.Split(rest[1:], "/") {
		token = strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[token]
			if !ok {
				return nil, &refError{ref, "does not resolve: no " + strconv.Quote(token)}
			}
			v = next
		case []any:
			i, err := strconv.Atoi(token)
			if err != nil || i < 0 || i >= len(node) {
				return nil, &refError{ref, "does not resolve: no index " + strconv.Quote(token)}
			}
			v = node[i]
		default:
			return nil, &refError{ref, "does not resolve: " + strconv.Quote(token) + " is inside a scalar"}
		}
	}
	return v, nil
}

type refError struct{ ref, problem string }

func (e *refError) Error() string { return "$ref " + strconv.Quote(e.ref) + " " + e.problem }

func TestOpenAPIErrorCodes(t *testing.T) {
	doc := loadOpenAPI(t)
	schemas, ok := lookup(doc, "components", "schemas")
	if !ok {
		t.Fatal("no components.schemas")
	}
	errorSchema, ok := lookup(schemas, "Error")
	if !ok {
		t.Fatal("no Error schema")
	}
	detail := resolve(t, doc, mustLookup(t, errorSchema, "properties", "error"))
	for _, field := range []string{"code", "message", "field", "reason", "retry_after_ms"} {
		if _, ok := lookup(detail, "properties", field); !ok {
			t.Errorf("the Error schema has no error.%s", field)
		}
	}
	code := resolve(t, doc, mustLookup(t, detail, "properties", "code"))
	enum, _ := lookup(code, "enum")
	list, _ := enum.([]any)
	documented := map[string]bool{}
	for _, c := range list {
		s, _ := c.(string)
		documented[s] = true
	}
	for c := range statusOf {
		if !documented[c] {
			t.Errorf("error code %q (statusOf in respond.go) is missing from the Error schema's code enum", c)
		}
	}
	for c := range documented {
		if _, ok := statusOf[c]; !ok {
			t.Errorf("the Error schema's code enum lists %q, which statusOf in respond.go does not know", c)
		}
	}
}

func mustLookup(t *testing.T, v any, keys ...string) any {
	t.Helper()
	got, ok := lookup(v, keys...)
	if !ok {
		t.Fatalf("no %s", strings.Join(keys, "."))
	}
	return got
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := loadOpenAPI(t)
	refs := 0
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch node := v.(type) {
		case map[string]any:
			if ref, ok := node["$ref"]; ok {
				refs++
				s, ok := ref.(string)
				if !ok {
					t.Errorf("%s: $ref is not a string", at)
				} else if _, err := pointer(doc, s); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for k, child := range node {
				walk(child, at+"/"+k)
			}
		case []any:
			for i, child := range node {
				walk(child, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")
	if refs == 0 {
		t.Error("the document has no $ref at all; expected shared components")
	}
}

// docs/API.md is the contract in people's words: it names the same
// operations as the OpenAPI document, and the same error codes with the
// statuses the server answers them with.
func TestAPIDocumentMatchesOpenAPI(t *testing.T) {
	page, err := os.ReadFile("../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	codes := map[string]int{}
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| ([0-9]{3}) \\|")
	for line := range strings.Lines(string(page)) {
		if op, ok := strings.CutPrefix(strings.TrimSpace(line), "### "); ok {
			documented[op] = true
		}
		if m := row.FindStringSubmatch(line); m != nil {
			codes[m[1]], _ = strconv.Atoi(m[2])
		}
	}

	paths, _ := lookup(loadOpenAPI(t), "paths")
	served := map[string]bool{}
	for path, ops := range paths.(map[string]any) {
		for method := range ops.(map[string]any) {
			if method == "parameters" {
				continue
			}
			served[strings.ToUpper(method)+" "+path] = true
		}
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("docs/API.md has no section for %s", op)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("docs/API.md documents %s, which openapi.json does not have", op)
		}
	}
	for code, status := range statusOf {
		if codes[code] != status {
			t.Errorf("docs/API.md gives %q status %d, the server answers %d", code, codes[code], status)
		}
	}
	for code := range codes {
		if _, ok := statusOf[code]; !ok {
			t.Errorf("docs/API.md lists the code %q, which the server never answers", code)
		}
	}
}
