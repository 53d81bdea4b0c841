package main

import (
	"regexp"
	"sync"
)

var listeningLine = regexp.MustCompile(`listening on (http://\S+)`)

// lineWatcher collects a server's output and finds the address it prints.
type lineWatcher struct {
	mu  sync.Mutex
	buf []byte
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *lineWatcher) url() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m := listeningLine.FindSubmatch(w.buf); m != nil {
		return string(m[1])
	}
	return ""
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
