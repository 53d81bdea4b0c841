package draw_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/flashsale/flashsale/draw"
)

// The Python reference printed in docs/DRAW.md, run as it is printed,
// gives the commitment, the digest and the order this package gives, on
// the test vector and on a thousand ids of every shape an id may take.
func TestPythonReference(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the reference in docs/DRAW.md is not checked")
	}
	doc, err := os.ReadFile("../docs/DRAW.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(string(doc), "```python\n")
	code, _, closed := strings.Cut(rest, "```")
	if !found || !closed {
		t.Fatal("docs/DRAW.md has no python code block")
	}
	many := make([]string, 1000)
	for i := range many {
		many[i] = fmt.Sprintf("%s-%d", []string{"entry", "Entry", "été", "0x"}[i%4], i*7919%1000)
	}
	seed := must(draw.NewSeed())
	for name, tc := range map[string]struct {
		seed draw.Seed
		ids  []string
	}{
		"the test vector": {must(draw.ParseSeed(vectorSeed)), vectorIDs},
		"a thousand ids":  {seed, many},
	} {
		input := tc.seed.String() + "\n" + strings.Join(tc.ids, "\n") + "\n"
		cmd := exec.Command(python, "-c", code)
		cmd.Stdin = strings.NewReader(input)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: python: %v\n%s", name, err, stderr.String())
		}
		want := append([]string{tc.seed.Commitment(), draw.Digest(tc.ids)}, draw.Order(tc.seed, tc.ids)...)
		if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: the reference printed\n%s\nwant\n%s", name, strings.Join(got[:min(len(got), 5)], "\n"), strings.Join(want[:min(len(want), 5)], "\n"))
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
