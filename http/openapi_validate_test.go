package http

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// loadKinOpenAPI parses the served document with kin-openapi, which reads
// OpenAPI 3.1 (JSON Schema 2020-12 schemas, webhooks, jsonSchemaDialect).
func loadKinOpenAPI(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("openapi.json does not load as an OpenAPI document: %v", err)
	}
	return doc
}

// validateOpenAPI is every check kin-openapi has of a document: its
// structure, its references, the path parameters of every template, the
// schemas themselves, and the examples, defaults and patterns against their
// schemas, all reported at once.
func validateOpenAPI(doc *openapi3.T) error {
	return doc.Validate(context.Background(),
		openapi3.EnableMultiError(),
		openapi3.EnableExamplesValidation(),
		openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableSchemaPatternValidation(),
		openapi3.EnableSchemaFormatValidation(),
	)
}

// The document is held to the OpenAPI specification by a maintained
// validator, not only to the hand-written checks of openapi_test.go.
func TestOpenAPIDocumentValidates(t *testing.T) {
	doc := loadKinOpenAPI(t, openAPI)
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q: the validator would not apply the 3.1 rules", doc.OpenAPI)
	}
	if err := validateOpenAPI(doc); err != nil {
		var multi openapi3.MultiError
		if errors.As(err, &multi) {
			for _, e := range multi {
				t.Errorf("openapi.json: %v", e)
			}
			return
		}
		t.Errorf("openapi.json: %v", err)
	}
}

// The validator is not a rubber stamp: a document broken in the ways an
// edit by hand breaks one is refused.
func TestOpenAPIValidatorRefusesBrokenDocuments(t *testing.T) {
	for _, tc := range []struct{ name, from, to string }{
		{"a reference to no component", `"#/components/schemas/Error"`, `"#/components/schemas/Eror"`},
		{"a type JSON Schema does not have", `"type": "string"`, `"type": "text"`},
		{"an undeclared path parameter", `"/orders/{order_id}/pay"`, `"/orders/{id}/pay"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broken := strings.Replace(string(openAPI), tc.from, tc.to, 1)
			if broken == string(openAPI) {
				t.Fatalf("the document has no %s to break", tc.from)
			}
			doc, err := openapi3.NewLoader().LoadFromData([]byte(broken))
			if err == nil {
				err = validateOpenAPI(doc)
			}
			if err == nil {
				t.Errorf("the document with %s is accepted", tc.name)
			} else {
				t.Logf("refused: %v", err)
			}
		})
	}
}
