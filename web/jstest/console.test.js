// Unit tests of the console's logic (static/charts.js), without a browser:
// node --test web/jstest (run by web's TestJavaScript).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const C = require('../static/charts.js');

const SCRAPE = `# HELP flashsale_http_requests_total HTTP requests by route and status code.
# TYPE flashsale_http_requests_total counter
flashsale_http_requests_total{code="201",route="place_order"} 120
flashsale_http_requests_total{code="409",route="place_order"} 30
flashsale_http_requests_total{code="200",route="get_sale"} 5000
flashsale_http_requests_total{route="place_order",code="503"} 2 1717171717000
flashsale_place_order_total{outcome="sold_out"} 1.5e3
go_gc_duration_seconds{quantile="0.5"} NaN
flashsale_http_request_duration_seconds_bucket{route="place_order",le="+Inf"} 152
weird{msg="a \\"quoted\\" \\\\ value\\nwith a newline",other="x"} 7
process_open_fds 12

broken{unterminated="oops 3
`;

test('Prometheus text: names, labels, values, escapes', () => {
  const samples = C.parseMetrics(SCRAPE);
  const find = (name, labels = {}) => samples.find((s) => s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(find('flashsale_http_requests_total', { code: '201' }).value, 120);
  assert.equal(find('flashsale_http_requests_total', { code: '503' }).value, 2, 'a timestamp is not the value');
  assert.equal(find('flashsale_place_order_total').value, 1500);
  assert.ok(Number.isNaN(find('go_gc_duration_seconds').value));
  assert.equal(find('flashsale_http_request_duration_seconds_bucket').labels.le, '+Inf');
  assert.equal(find('weird').labels.msg, 'a "quoted" \\ value\nwith a newline');
  assert.equal(find('weird').labels.other, 'x');
  assert.deepEqual(find('process_open_fds').labels, {});
  assert.equal(find('broken'), undefined, 'a line cut short is skipped');
  assert.equal(samples.length, 9);
});

test('a metric summed by one label, filtered by others', () => {
  const samples = C.parseMetrics(SCRAPE);
  assert.deepEqual(C.sumBy(samples, 'flashsale_http_requests_total', { route: 'place_order' }, 'code'),
    { 201: 120, 409: 30, 503: 2 });
  assert.deepEqual(C.sumBy(samples, 'flashsale_http_requests_total', {}, ''), { '': 5152 });
  assert.deepEqual(C.sumBy(samples, 'no_such_metric', {}, 'code'), {});
});

test('rates between two scrapes, across a restart', () => {
  assert.deepEqual(C.rates({ 201: 100, 409: 10 }, { 201: 130, 409: 10, 503: 4 }, 2), { 201: 15, 409: 0, 503: 2 });
  // The process restarted: 5 since the reset, not -95.
  assert.deepEqual(C.rates({ 201: 100 }, { 201: 5 }, 1), { 201: 5 });
  assert.deepEqual(C.rates({ 201: 1 }, { 201: 2 }, 0), {}, 'no time, no rate');
  assert.deepEqual(C.rates(null, { 201: 4 }, 2), { 201: 2 });
});

test('chart scales end on a round number', () => {
  assert.deepEqual(C.niceScale(100), { max: 100, step: 50, ticks: [0, 50, 100] });
  assert.deepEqual(C.niceScale(7), { max: 8, step: 2, ticks: [0, 2, 4, 6, 8] });
  assert.deepEqual(C.niceScale(1.3), { max: 1.5, step: 0.5, ticks: [0, 0.5, 1, 1.5] });
  assert.deepEqual(C.niceScale(10000), { max: 10000, step: 5000, ticks: [0, 5000, 10000] });
  assert.equal(C.niceScale(0).max, 1, 'an empty chart still has an axis');
  assert.equal(C.niceScale(NaN).max, 1);
  for (const max of [0.03, 3, 42, 999, 12345, 7e6]) {
    const s = C.niceScale(max);
    assert.ok(s.max >= max && s.max < max * 2.6, `${max} -> ${s.max}`);
    assert.ok(s.ticks.length >= 2 && s.ticks.length <= 7, `${max}: ${s.ticks.length} ticks`);
  }
});

test('a line is drawn in the plot, values clamped, old points left out', () => {
  const d = C.linePath([[0, 10], [500, 0], [1000, 5], [1500, 99]], 0, 1000, 10, 200, 100);
  assert.equal(d, 'M0 0L100 100L200 50');
  assert.equal(C.linePath([[-1, 5], [10, 20]], 0, 10, 10, 100, 100), 'M100 0', 'a value over the axis is drawn at its top');
  assert.equal(C.linePath([], 0, 10, 10, 100, 100), '');
});

test('history keeps a window of readings', () => {
  const h = new C.History(1000);
  h.add(0, { a: 1, b: 5 });
  h.add(600, { a: 3 });
  h.add(1500, { a: 2 });
  assert.deepEqual(h.series.a, [[600, 3], [1500, 2]]);
  assert.deepEqual(h.series.b, []);
  assert.equal(h.max(), 3);
  assert.equal(h.last('a'), 2);
  assert.equal(h.last('b'), undefined);
});

const iso = (v) => (v ? `ISO(${v})` : '');

test('the form becomes the admin API body, defaults left to the API', () => {
  const body = C.saleBody({
    name: 'Launch', start_time: 'S', end_time: 'E', mode: 'fcfs', admission: 'direct', reservation_ttl_seconds: '',
    entries_open: 'O', entries_close: 'C',
    items: [{ product_id: 'p', name: 'Phone', original_price: '999.00', sale_price: '499.00', currency: 'USD', total_quantity: '100', per_user_limit: '' }],
    challenge: { policy: '', max_number: '5000' },
    limits: { per_card: '', per_phone: '', per_address: '', min_account_age_days: '', require_verified_phone: false },
  }, iso);
  assert.deepEqual(body, {
    name: 'Launch', start_time: 'ISO(S)', end_time: 'ISO(E)', mode: 'fcfs', admission: 'direct',
    items: [{ product_id: 'p', name: 'Phone', original_price: '999.00', sale_price: '499.00', currency: 'USD', total_quantity: 100 }],
  });
});

test('every setting reaches the body', () => {
  const body = C.saleBody({
    name: 'L', start_time: 'S', end_time: 'E', mode: 'lottery', admission: 'queued', reservation_ttl_seconds: ' 60 ',
    entries_open: 'O', entries_close: 'C',
    items: [{ product_id: 'p', name: 'n', original_price: '2.00', sale_price: '1.00', currency: 'EUR', total_quantity: '', per_user_limit: '2' }],
    waiting_room: { admit_per_minute: '600', max_active: '0', session_seconds: '', pre_queue_seconds: '30', order: 'random', abandon_seconds: '', overbook: '1.5' },
    challenge: { policy: 'always', max_number: '', pace: '50000' },
    limits: { per_card: '1', per_phone: '', per_address: '2', min_account_age_days: 'x', require_verified_phone: true },
  }, iso);
  assert.deepEqual(body, {
    name: 'L', start_time: 'ISO(S)', end_time: 'ISO(E)', mode: 'lottery', admission: 'queued', reservation_ttl_seconds: 60,
    lottery: { entries_open: 'ISO(O)', entries_close: 'ISO(C)' },
    items: [{ product_id: 'p', name: 'n', original_price: '2.00', sale_price: '1.00', currency: 'EUR', total_quantity: null, per_user_limit: 2 }],
    waiting_room: { admit_per_minute: 600, max_active: 0, pre_queue_seconds: 30, overbook: 1.5, order: 'random' },
    challenge: { policy: 'always', pace: 50000 },
    // Not a number: sent as typed, so that the API names the field.
    limits: { per_card: 1, per_address: 2, min_account_age_days: 'x', require_verified_phone: true },
  });
});

test('local times go out as UTC', () => {
  const local = C.isoToLocal(Date.UTC(2026, 5, 1, 12, 0, 5));
  assert.match(local, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
  assert.equal(C.localToISO(local), '2026-06-01T12:00:05.000Z');
  assert.equal(C.localToISO(''), '');
  assert.equal(C.localToISO('not a time'), 'not a time');
});

test('an error\'s field is shown where the form holds it', () => {
  const known = new Set(['name', 'end_time', 'items', 'items[0]', 'items[0].sale_price', 'waiting_room', 'lottery']);
  assert.equal(C.fieldFor('items[0].sale_price', known), 'items[0].sale_price');
  assert.equal(C.fieldFor('items[0].currency', known), 'items[0]');
  assert.equal(C.fieldFor('items[3].name', known), 'items');
  assert.equal(C.fieldFor('waiting_room.overbook', known), 'waiting_room');
  assert.equal(C.fieldFor('lottery.entries_close', known), 'lottery');
  assert.equal(C.fieldFor('$', known), '');
  assert.equal(C.fieldFor('', known), '');
  assert.equal(C.fieldFor('nothing.here', known), '');
});

test('a reconcile report sums up per item', () => {
  const c = (a, r, s) => ({ total: a + r + s, available: a, reserved: r, sold: s });
  const rows = C.reconcileRows({
    sale_id: 's', checked_at: 't', rebuild_requested: false,
    items: [{ item_id: 'i', inventory: c(1, 3, 1), store: c(2, 2, 1), after: c(2, 2, 1),
      released: ['o1'], confirmed: [], orphans: ['o2', 'o3'], missing_from_inventory: [], consistent: true }],
  });
  assert.deepEqual(rows, [{ item_id: 'i', before: '1 / 3 / 1 of 5', store: '2 / 2 / 1 of 5', after: '2 / 2 / 1 of 5',
    repaired: 3, missing: 0, consistent: true }]);
  assert.deepEqual(C.reconcileRows(null), []);
});

test('the orders\' query leaves out what is empty and escapes the rest', () => {
  assert.equal(C.ordersQuery({}), '');
  assert.equal(C.ordersQuery({ status: '', cursor: '', limit: undefined }), '');
  assert.equal(C.ordersQuery({ status: 'confirmed' }), '?status=confirmed');
  assert.equal(C.ordersQuery({ status: 'refunded', cursor: 'MDE5+/=', limit: 50 }), '?status=refunded&cursor=MDE5%2B%2F%3D&limit=50');
  assert.equal(C.ordersQuery({ cursor: 'abc', limit: 0 }), '?cursor=abc&limit=0', 'a zero is sent, for the API to refuse');
});

test('an order id is shortened to its random end', () => {
  assert.equal(C.shortID('0190a1b2-0000-7000-8000-00000000abcd'), '…0000abcd');
  assert.equal(C.shortID('short'), 'short');
  assert.equal(C.shortID(undefined), '');
});

test('a restock\'s body: a number, else the text for the API to name', () => {
  assert.deepEqual(C.restockBody('it', ' 25 '), { items: [{ item_id: 'it', add_quantity: 25 }] });
  assert.deepEqual(C.restockBody('it', ''), { items: [{ item_id: 'it', add_quantity: null }] });
  assert.deepEqual(C.restockBody('it', 'ten'), { items: [{ item_id: 'it', add_quantity: 'ten' }] });
});

test('an audit entry in words, before → after', () => {
  const sale = (paused, end, total) => ({ name: 'Launch', paused, end_time: end, start_time: 'S',
    items: [{ item_id: 'i1', name: 'Phone X', total_quantity: total }] });
  const at = (iso) => `<${iso}>`;
  assert.equal(C.auditSummary({ action: 'change_sale', request: { paused: true },
    before: sale(undefined, 'E', 5), after: sale(true, 'E', 5) }), 'paused false → true');
  assert.equal(C.auditSummary({ action: 'change_sale', request: { paused: false },
    before: sale(true, 'E', 5), after: sale(undefined, 'E', 5) }), 'paused true → false');
  assert.equal(C.auditSummary({ action: 'change_sale', request: { end_time: 'F' },
    before: sale(false, 'E', 5), after: sale(false, 'F', 5) }, at), 'ends <E> → <F>');
  assert.equal(C.auditSummary({ action: 'change_sale', request: { items: [{ item_id: 'i1', add_quantity: 7 }], paused: true },
    before: sale(false, 'E', 5), after: sale(true, 'E', 12) }), 'paused false → true; restock Phone X +7: 5 → 12 units');
  assert.equal(C.auditSummary({ action: 'change_sale', request: { items: [{ item_id: 'gone', add_quantity: 1 }] } }),
    'restock gone +1: ? → ? units', 'what an entry lacks reads as ?');
  assert.equal(C.auditSummary({ action: 'refund', request: { restock: true },
    after: { order_id: '0190a1b2-0000-7000-8000-00000000abcd', status: 'refunded' } }),
  'order …0000abcd confirmed → refunded, units back on sale');
  assert.equal(C.auditSummary({ action: 'refund', after: { order_id: 'o', status: 'refunded' } }), 'order o confirmed → refunded, not restocked');
  assert.equal(C.auditSummary({ action: 'create_sale', after: sale(false, 'E', 5) }, at), 'created “Launch”: 1 item(s), <S> to <E>');
  assert.equal(C.auditSummary({ action: 'adjust_queue', request: { admit_per_minute: 120 } }), 'admit_per_minute → 120');
  assert.equal(C.auditSummary({ action: 'reconcile', after: { items: [{ consistent: true }] } }), 'reconciled: consistent');
  assert.equal(C.auditSummary({ action: 'change_sale', request: {} }), 'no change');
  assert.equal(C.auditSummary(null), 'no change');
});

test('a CSV\'s records, with quoted line ends inside one', () => {
  assert.equal(C.csvRecords(''), 0);
  assert.equal(C.csvRecords('order_id,user_id\n'), 1);
  assert.equal(C.csvRecords('order_id,user_id\r\na,b\r\nc,d'), 3);
  assert.equal(C.csvRecords('h\n"a\nb",c\n'), 2);
});
