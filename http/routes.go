package http

import (
	"net/http"
	"slices"
	"strings"
)

// addRoutes lists the whole API. Public routes sit behind the per-IP limit;
// routes that act for someone need a token; placing an order also passes
// the per-user limit, inside its handler, after the sold-out check. The third column is the route's class for load
// shedding (shedding.go): under overload browsing is refused first, then
// placing orders; paying, order status and cancelling, and the admin
// routes last; the operational endpoints never.
func (s *server) addRoutes(mux *http.ServeMux) {
	t := routeTable{server: s, mux: mux, methods: map[string][]string{}}
	// A process that runs other roles only (order workers, the timeout
	// handler, the notifier) serves the operational endpoints alone.
	if !s.OpsOnly {
		t.add("GET /flash-sales", "list_sales", browsing, s.perIP(s.handleListSales()))
		t.add("GET /flash-sales/{sale_id}", "get_sale", browsing, s.perIP(s.handleGetSale()))
		t.add("POST /flash-sales/{sale_id}/orders", "place_order", ordering, s.perIP(s.user(s.handlePlaceOrder())))
		t.add("GET /order-requests/{request_id}", "get_order_request", critical, s.perIP(s.user(s.handleGetOrderRequest())))
		t.add("GET /orders/{order_id}", "get_order", critical, s.perIP(s.user(s.handleGetOrder())))
		t.add("POST /orders/{order_id}/pay", "pay_order", critical, s.perIP(s.user(s.handlePay())))
		t.add("POST /orders/{order_id}/cancel", "cancel_order", critical, s.perIP(s.user(s.handleCancel())))
		// The waiting room: a shopper's place, polled as the ticket says;
		// the pre-queue's draw, public.
		t.add("POST /flash-sales/{sale_id}/queue", "join_queue", ordering, s.perIP(s.user(s.handleJoinQueue())))
		t.add("GET /flash-sales/{sale_id}/queue", "get_ticket", browsing, s.perIP(s.user(s.handleGetTicket())))
		t.add("DELETE /flash-sales/{sale_id}/queue", "leave_queue", critical, s.perIP(s.user(s.handleLeaveQueue())))
		t.add("GET /flash-sales/{sale_id}/queue/draw", "get_queue_draw", browsing, s.perIP(s.handleQueueDraw()))
		t.add("GET /flash-sales/{sale_id}/queue/draw/entries", "get_queue_draw_entries", browsing, s.perIP(s.handleQueueDrawEntries()))
		// The lottery: a shopper's entries; the draw, public.
		t.add("POST /flash-sales/{sale_id}/entries", "enter_lottery", ordering, s.perIP(s.user(s.handleEnterLottery())))
		t.add("GET /flash-sales/{sale_id}/entries", "get_entries", browsing, s.perIP(s.user(s.handleGetEntries())))
		t.add("GET /flash-sales/{sale_id}/draw", "get_draw", browsing, s.perIP(s.handleLotteryDraw()))
		t.add("GET /flash-sales/{sale_id}/draw/{item_id}/entries", "get_draw_entries", browsing, s.perIP(s.handleLotteryDrawEntries()))
		// A stream lasts as long as its client stays: counted in flight it
		// would crowd out the API, so it is never shed; it is bounded per user.
		t.add("GET /events", "events", neverShed, s.perIP(s.queryToken(s.user(s.handleEvents()))))

		// The payment provider's webhooks: signed, so neither a token nor
		// the per-IP limit, which would refuse a provider's burst of
		// deliveries from its few addresses.
		if s.PaymentEvents != nil {
			t.add("POST /webhooks/payments", "payment_webhook", critical, s.handlePaymentEvent())
		}

		t.add("POST /admin/flash-sales", "admin_create_sale", critical, s.perIP(s.admin(s.audited("create_sale", s.handleCreateSale()))))
		t.add("PATCH /admin/flash-sales/{sale_id}", "admin_change_sale", critical, s.perIP(s.admin(s.audited("change_sale", s.handleChangeSale()))))
		t.add("GET /admin/flash-sales/{sale_id}/stats", "admin_stats", critical, s.perIP(s.admin(s.handleStats())))
		t.add("GET /admin/flash-sales/{sale_id}/orders", "admin_sale_orders", critical, s.perIP(s.admin(s.handleSaleOrders())))
		t.add("POST /admin/orders/{order_id}/refund", "admin_refund", critical, s.perIP(s.admin(s.audited("refund", s.handleRefund()))))
		if s.Audit != nil {
			t.add("GET /admin/audit", "admin_audit", critical, s.perIP(s.admin(s.handleAudit())))
		}
		t.add("POST /admin/flash-sales/{sale_id}/reconcile", "admin_reconcile", critical, s.perIP(s.admin(s.audited("reconcile", s.handleReconcile()))))
		t.add("GET /admin/flash-sales/{sale_id}/queue", "admin_queue", critical, s.perIP(s.admin(s.handleQueueStats())))
		t.add("GET /admin/flash-sales/{sale_id}/fairness", "admin_fairness", critical, s.perIP(s.admin(s.handleFairness())))
		t.add("PATCH /admin/flash-sales/{sale_id}/queue", "admin_adjust_queue", critical, s.perIP(s.admin(s.audited("adjust_queue", s.handleAdjustQueue()))))

		// The shopper's page, served by the binary (package web) from
		// memory: as cheap as a refusal, so not counted per IP (a page
		// load's scripts and stylesheet must not eat its API calls' quota).
		// The operators' console and the API reference are pages too:
		// the console's calls go through the admin routes, with their
		// token and limits.
		if s.Pages != nil {
			t.add("GET /{$}", "page_sales", browsing, s.Pages)
			t.add("GET /sales/{sale_id}", "page_sale", browsing, s.Pages)
			t.add("GET /assets/{file}", "page_asset", browsing, s.Pages)
			t.add("GET /console/{$}", "page_console", browsing, s.Pages)
			t.add("GET /docs", "page_docs", browsing, s.Pages)
		}
		// A demo mints shopper tokens for its page's sign-in; anywhere
		// else the route does not exist (404).
		if demo, ok := s.Pages.(DemoPages); ok && demo.Mint != nil {
			t.add("POST /demo/token", "demo_token", browsing, s.perIP(s.handleDemoToken(demo.Mint)))
		}
	}

	t.add("GET /healthz", "healthz", neverShed, s.handleHealthz())
	t.add("GET /readyz", "readyz", neverShed, s.handleReadyz())
	if !s.MetricsElsewhere {
		t.add("GET /metrics", "metrics", neverShed, s.handleMetrics())
	}
	t.add("GET /openapi.json", "openapi", neverShed, s.handleOpenAPI())
	t.finish()
}

// routeTable registers routes and answers, in the API's JSON error shape,
// the requests that match none: 405 with Allow for a known path, 404 else.
type routeTable struct {
	server  *server
	mux     *http.ServeMux
	methods map[string][]string // path -> methods
	order   []string
}

// add registers a route; shedding comes first, before any limit, token or
// body is looked at, so a refused request costs next to nothing.
func (t *routeTable) add(pattern, name string, class priority, h http.Handler) {
	method, path, _ := strings.Cut(pattern, " ")
	if _, ok := t.methods[path]; !ok {
		t.order = append(t.order, path)
	}
	t.methods[path] = append(t.methods[path], method)
	t.mux.Handle(pattern, t.server.instrument(name, t.server.shed(class, name, h)))
}

func (t *routeTable) finish() {
	for _, path := range t.order {
		allowed := t.methods[path]
		if slices.Contains(allowed, http.MethodGet) {
			allowed = append(allowed, http.MethodHead)
		}
		t.mux.Handle(path, t.server.instrument("method_not_allowed", t.server.handleMethodNotAllowed(strings.Join(allowed, ", "))))
	}
	t.mux.Handle("/", t.server.instrument("not_found", t.server.handleNotFound()))
}
