package main

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

func TestTraceSettings(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseConfig(nil, none, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.OTLPEndpoint != "" || c.TraceSample != 0.01 {
		t.Fatalf("defaults: endpoint %q, sample %v; want off and 0.01", c.OTLPEndpoint, c.TraceSample)
	}
	env := map[string]string{"FLASHSALE_OTLP_ENDPOINT": "https://collector.example:4318/otlp", "FLASHSALE_TRACE_SAMPLE": "0.5"}
	c, err = parseConfig([]string{"--trace-sample", "1"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.OTLPEndpoint != env["FLASHSALE_OTLP_ENDPOINT"] || c.TraceSample != 1 {
		t.Fatalf("config %q %v, %v", c.OTLPEndpoint, c.TraceSample, err)
	}
	for _, bad := range []map[string]string{
		{"FLASHSALE_OTLP_ENDPOINT": "127.0.0.1:4318"},
		{"FLASHSALE_OTLP_ENDPOINT": "grpc://127.0.0.1:4317"},
		{"FLASHSALE_OTLP_ENDPOINT": "http://"},
		{"FLASHSALE_TRACE_SAMPLE": "1.5"},
		{"FLASHSALE_TRACE_SAMPLE": "-0.1"},
		{"FLASHSALE_TRACE_SAMPLE": "NaN"},
		{"FLASHSALE_TRACE_SAMPLE": "1%"},
	} {
		if _, err := parseConfig(nil, func(k string) string { return bad[k] }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// The real program with an OTLP endpoint and a sample ratio of 0: the
// one request whose caller traces it (a sampled traceparent) is traced,
// and its span reaches the collector when the program stops, although
// the batch's 5 s had not passed: the shutdown flushes it.
func TestOTLPSpansAreSentOnShutdown(t *testing.T) {
	type export struct {
		path, contentType string
		body              []byte
	}
	var mu sync.Mutex
	var exports []export
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		exports = append(exports, export{r.URL.Path, r.Header.Get("Content-Type"), body})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()

	url, _, stop := startWithEnv(t, testEnv(t.TempDir(), "FLASHSALE_OTLP_ENDPOINT="+collector.URL, "FLASHSALE_TRACE_SAMPLE=0"))
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	req, _ := http.NewRequest("GET", url+"/flash-sales", nil)
	req.Header.Set("Traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /flash-sales: %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	id, _ := hex.DecodeString(traceID)
	mu.Lock()
	defer mu.Unlock()
	for _, e := range exports {
		if e.path != "/v1/traces" || e.contentType != "application/x-protobuf" {
			t.Errorf("an export to %s as %q, want /v1/traces as application/x-protobuf", e.path, e.contentType)
		}
		if bytes.Contains(e.body, id) && bytes.Contains(e.body, []byte("GET /flash-sales")) {
			return
		}
	}
	t.Fatalf("%d exports, none with the span of trace %s", len(exports), traceID)
}
