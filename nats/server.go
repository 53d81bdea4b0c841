// Package nats is queued admission's request queue on NATS JetStream: a
// work-queue stream of place-order requests, deduplicated by request id,
// bounded so that a full queue says "overloaded" instead of dropping, and
// a key-value bucket of each request's outcome for its status URL.
//
// Embedded mode runs a NATS server inside the process (no listener, data
// in the data folder); distributed mode connects to a NATS cluster.
package nats

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
)

// Connect opens a connection to the NATS server or cluster at url (a
// comma-separated list of servers works), reconnecting forever: the
// queue's workers wait out an outage rather than end.
func Connect(url string) (*natsgo.Conn, error) {
	nc, err := natsgo.Connect(url, natsgo.Name("flashsale"), natsgo.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to nats at %s: %w", url, err)
	}
	return nc, nil
}

// Embedded is a NATS server with JetStream inside this process.
type Embedded struct {
	server *server.Server
	conn   *natsgo.Conn
}

// StartEmbedded starts a JetStream server that keeps its data in dir and
// listens on no port: only this process reaches it, in memory.
func StartEmbedded(dir string) (*Embedded, error) {
	ns, err := server.NewServer(&server.Options{
		ServerName: "flashsale-embedded",
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 30 s")
	}
	nc, err := natsgo.Connect("", natsgo.InProcessServer(ns), natsgo.Name("flashsale"))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	return &Embedded{server: ns, conn: nc}, nil
}

// Conn is the in-process connection to the server.
func (e *Embedded) Conn() *natsgo.Conn { return e.conn }

// Close closes the connection and stops the server, its data safe on disk.
func (e *Embedded) Close() {
	e.conn.Close()
	e.server.Shutdown()
	e.server.WaitForShutdown()
}
