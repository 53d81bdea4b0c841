// Command ceiling is the machine's ceiling for flashsale's cheapest answers:
// a bare net/http server that sends the same bytes, status and headers as
// flashsale does, and does nothing else. The benchmark scripts drive it and
// flashsale with the same client and settings; flashsale's rate over this
// one is the share of the machine its sold-out path gets.
//
//	POST /flash-sales/{sale_id}/orders  -> 409 sold_out, the exact body flashsale sends
//	                                        (or -order-status / -order-body-file)
//	GET  /flash-sales/{sale_id}         -> the sale page bytes of -page-file, with
//	                                        flashsale's ETag and Cache-Control (304 on
//	                                        a matching If-None-Match)
//	GET  /healthz                       -> 200 ok
//
// It reads the request body (any handler must) and sets Content-Type and
// Content-Length as flashsale does; it has no authentication, validation,
// limits, metrics or inventory: that is flashsale's cost, which the ratio
// shows.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// soldOutBody is what flashsale writes for 409 sold_out (http/respond.go:
// json.Marshal of the error envelope plus a newline).
const soldOutBody = `{"error":{"code":"sold_out","message":"the item is sold out"}}` + "\n"

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address (loopback)")
	orderStatus := flag.Int("order-status", http.StatusConflict, "status of POST /flash-sales/{id}/orders")
	orderBodyFile := flag.String("order-body-file", "", "body of POST /flash-sales/{id}/orders (default: flashsale's sold_out body)")
	orderLocation := flag.String("order-location", "", "Location header of the order answer (flashsale sends one with 201)")
	pageFile := flag.String("page-file", "", "body of GET /flash-sales/{id} (a sale page fetched from flashsale)")
	etag := flag.String("etag", "", "ETag of the sale page, as flashsale sent it")
	cacheControl := flag.String("cache-control", "public, max-age=1", "Cache-Control of the sale page")
	flag.Parse()

	orderBody := []byte(soldOutBody)
	if *orderBodyFile != "" {
		b, err := os.ReadFile(*orderBodyFile)
		if err != nil {
			log.Fatal(err)
		}
		orderBody = b
	}
	var page []byte
	if *pageFile != "" {
		b, err := os.ReadFile(*pageFile)
		if err != nil {
			log.Fatal(err)
		}
		page = b
	}
	orderLength := strconv.Itoa(len(orderBody))
	pageLength := strconv.Itoa(len(page))

	mux := http.NewServeMux()
	mux.HandleFunc("POST /flash-sales/{sale_id}/orders", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", orderLength)
		if *orderLocation != "" {
			h.Set("Location", *orderLocation)
		}
		w.WriteHeader(*orderStatus)
		_, _ = w.Write(orderBody)
	})
	mux.HandleFunc("GET /flash-sales/{sale_id}", func(w http.ResponseWriter, r *http.Request) {
		if page == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", *cacheControl)
		if *etag != "" {
			h.Set("Etag", *etag)
			if r.Header.Get("If-None-Match") == *etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", pageLength)
		_, _ = w.Write(page)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})

	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The same server timeouts as flashsale serve, so connection handling
	// costs the same.
	server := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	fmt.Printf("ceiling listening on http://%s\n", listener.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		_ = server.Close()
	}()
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
