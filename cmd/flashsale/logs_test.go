package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

// With --log-format json and --access-log on, every line is a JSON object
// and each request has one, naming the request id its answer carries; a
// client's own id is kept, a hostile one replaced.
func TestJSONAccessLog(t *testing.T) {
	url, out, _ := startWatched(t, t.TempDir(), "--log-format", "json", "--access-log", "on")
	for _, sent := range []string{"", "trace-42", "two words"} {
		req, err := http.NewRequest("GET", url+"/flash-sales", nil)
		if err != nil {
			t.Fatal(err)
		}
		if sent != "" {
			req.Header.Set("X-Request-Id", sent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Header.Get("X-Request-Id")
		switch {
		case sent == "trace-42" && id != sent:
			t.Fatalf("a client's request id came back as %q", id)
		case sent != "trace-42" && (id == "" || id == sent):
			t.Fatalf("request id %q for a request that sent %q", id, sent)
		}
		testenv.Eventually(t, 5*time.Second, "the request's log line", func() bool {
			for _, line := range strings.Split(out.String(), "\n") {
				var entry map[string]any
				if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == "request" && entry["request_id"] == id {
					return entry["route"] == "list_sales" && entry["status"] == 200.0 && entry["method"] == "GET"
				}
			}
			return false
		})
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(line, "{") && !json.Valid([]byte(line)) {
			t.Errorf("a log line that is not JSON: %s", line)
		}
	}
}
