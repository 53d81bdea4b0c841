// Package flashsale is the domain of a flash sale: sales and their items,
// orders and their states, the refusals a shopper can get (each worded
// once, in refusal.go and waitingroom.go) and the error codes they carry,
// and the ports the purchase flow runs on. Each port states its contract
// as prose on the interface and has a conformance suite that every
// implementation runs:
//
//   - Inventory (inventorytest): who gets a unit, in one atomic step;
//     memory (embedded) and redis (a fleet).
//   - OrderStore and Outbox (storetest): what happened to each order, and
//     what each user is told of it; sqlite and postgres.
//   - OrderQueue (queuetest): queued admission's requests; memory and nats.
//   - WaitingRoom (waitingroomtest): the line in front of the Buy button;
//     memory and redis.
//   - OrderJournal: acknowledging reservations from Redis's AOF.
//   - PaymentProvider: paysim, the simulator.
//
// The use cases over the ports are in package checkout; the HTTP API in
// package http; internal/deployment opens each kind of deployment, and
// cmd/flashsale is the binary.
package flashsale
