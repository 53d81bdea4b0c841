// Unit tests of the page's logic (static/logic.js), without a browser:
// node --test web/jstest (run by web's TestJavaScript).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createHash, webcrypto } = require('node:crypto');
const L = require('../static/logic.js');

test('the countdown runs on the server time, not the device clock', () => {
  const clock = new L.ServerClock();
  // The device's monotonic clock reads 1000 ms when the request leaves and
  // 1200 ms when the answer arrives; the server said 12:00:00.100.
  const server = Date.parse('2026-01-01T12:00:00.100Z');
  clock.sample('2026-01-01T12:00:00.100Z', 1000, 1200);
  assert.equal(clock.now(1100), server);
  assert.equal(clock.now(6100), server + 5000);
});

test('a cached, older server_time does not pull the clock back', () => {
  const clock = new L.ServerClock();
  clock.sample(10_000, 0, 100); // offset 9950
  clock.sample(10_500, 2000, 2010); // served from a cache: 1.5 s stale
  assert.equal(clock.offset(), 9950);
  clock.sample(13_000, 3000, 3040); // fresher: offset 9980
  assert.equal(clock.offset(), 9980);
});

test('a bad sample changes nothing', () => {
  const clock = new L.ServerClock();
  assert.equal(clock.sample('not a time', 0, 10), null);
  assert.equal(clock.sample(5000, 10, 0), null);
  assert.equal(clock.synced(), false);
  assert.equal(clock.now(42), 42);
});

test('the clock keeps only recent samples', () => {
  const clock = new L.ServerClock(2);
  clock.sample(100_000, 0, 0);
  clock.sample(1000, 0, 0);
  clock.sample(2000, 0, 0);
  assert.equal(clock.offset(), 2000);
});

test('durations read as a countdown, rounded up', () => {
  assert.equal(L.formatDuration(0), '0:00');
  assert.equal(L.formatDuration(-5000), '0:00');
  assert.equal(L.formatDuration(1), '0:01');
  assert.equal(L.formatDuration(59_001), '1:00');
  assert.equal(L.formatDuration(3_600_000), '1:00:00');
  assert.equal(L.formatDuration(90_061_000), '1 d 01:01:01');
});

test('Retry-After: the body\'s milliseconds, else seconds, else a date', () => {
  assert.equal(L.retryAfterMs('3', null), 3000);
  assert.equal(L.retryAfterMs('3', { error: { retry_after_ms: 2500 } }), 2500);
  assert.equal(L.retryAfterMs(null, null), 0);
  assert.equal(L.retryAfterMs('soon', null), 0);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(L.retryAfterMs('Thu, 01 Jan 2026 00:00:04 GMT', null, now), 4000);
});

test('backoff doubles, is spread at random, and honours the server', () => {
  const low = () => 0;
  const high = () => 0.999999;
  assert.equal(L.backoffDelay(0, 0, low), 250);
  assert.equal(L.backoffDelay(0, 0, high), 500);
  assert.equal(L.backoffDelay(3, 0, low), 2000);
  assert.equal(L.backoffDelay(3, 0, high), 4000);
  // capped
  assert.equal(L.backoffDelay(20, 0, high), 30000);
  // never sooner than the server asked, still spread above it
  assert.equal(L.backoffDelay(0, 1000, low), 1000);
  assert.equal(L.backoffDelay(0, 1000, high), 1250);
  // a crowd refused together comes back spread out
  const delays = new Set();
  for (let i = 0; i < 100; i++) delays.add(L.backoffDelay(2, 1000));
  assert.ok(delays.size > 50, `only ${delays.size} distinct delays`);
  for (const d of delays) assert.ok(d >= 1000 && d <= 2000, `delay ${d}`);
});

test('what is retried without the shopper', () => {
  assert.equal(L.retryable(503, { error: { code: 'overloaded' } }), true);
  assert.equal(L.retryable(503, { error: { code: 'unavailable' } }), true);
  assert.equal(L.retryable(0, null), true);
  assert.equal(L.retryable(409, { error: { code: 'payment_in_progress' } }), true);
  assert.equal(L.retryable(409, { error: { code: 'sold_out' } }), false);
  assert.equal(L.retryable(429, { error: { code: 'rate_limited' } }), false);
  // a paced challenge's solution sent early stays good: the same press again
  assert.equal(L.retryable(429, { error: { code: 'rate_limited', reason: 'challenge_early' } }), true);
  assert.equal(L.retryable(201, {}), false);
});

test('events update the order they are about, once, never backwards', () => {
  const reserved = { order_id: 'o1', status: 'reserved', total_amount: '5.00', payment_url: '/orders/o1/pay' };
  let o = L.applyEvent(reserved, 'order.payment_declined',
    { id: 'e1', type: 'order.payment_declined', order: { order_id: 'o1', status: 'reserved', reason: 'card_declined' } });
  assert.equal(o.status, 'reserved');
  assert.equal(o.last_payment_error, 'card_declined');
  assert.equal(o.payment_url, '/orders/o1/pay', 'fields the event lacks are kept');
  o = L.applyEvent(o, 'order.confirmed', { id: 'e2', order: { order_id: 'o1', status: 'confirmed' } });
  assert.equal(o.status, 'confirmed');
  // A late reserved event, or another order's, changes nothing.
  assert.equal(L.applyEvent(o, 'order.reserved', { id: 'e0', order: { order_id: 'o1', status: 'reserved' } }), o);
  assert.equal(L.applyEvent(o, 'order.expired', { id: 'e3', order: { order_id: 'o2', status: 'expired' } }), o);
  assert.equal(L.applyEvent(o, 'order_request.refused', { id: 'e4', request: { reason: 'sold_out' } }), o);
  // The expiry of a reserved order is final.
  const expired = L.applyEvent(reserved, 'order.expired', { id: 'e5', order: { order_id: 'o1', status: 'expired' } });
  assert.equal(expired.status, 'expired');
  // The shop's refund of a confirmed order is the last word.
  const refunded = L.applyEvent(o, 'order.refunded', { id: 'e6', order: { order_id: 'o1', status: 'refunded' } });
  assert.equal(refunded.status, 'refunded');
  assert.equal(L.applyEvent(refunded, 'order.confirmed', { id: 'e7', order: { order_id: 'o1', status: 'confirmed' } }), refunded);
});

test('a replayed event is applied once', () => {
  const log = new L.EventLog(2);
  assert.equal(log.fresh('a'), true);
  assert.equal(log.fresh('a'), false);
  assert.equal(log.fresh(''), true, 'queue events have no id: each counts');
  log.fresh('b');
  log.fresh('c'); // 'a' is forgotten past the bound
  assert.equal(log.fresh('c'), false);
  assert.equal(log.fresh('a'), true);
});

test('tickets read as people expect', () => {
  assert.match(L.describeTicket({ status: 'waiting', position: 3, ahead: 2, estimated_wait_seconds: 30 }),
    /number 3 in line: 2 people ahead of you, about 30 s to wait/);
  assert.match(L.describeTicket({ status: 'waiting', position: 2, ahead: 1, estimated_wait_seconds: 150 }),
    /1 person ahead of you, about 3 minutes/);
  assert.match(L.describeTicket({ status: 'waiting', position: 2, ahead: 1, estimated_wait_seconds: 150, paused: true }),
    /number 2 in line: 1 person ahead of you\. The shop has paused the sale; your place is kept\./);
  assert.match(L.describeTicket({ status: 'admitted' }), /your turn/);
  assert.match(L.describeTicket({ status: 'sold_out' }), /Sold out/);
  assert.equal(L.describeTicket(null), '');
});

test('a pasted token shows whom it speaks for', () => {
  const payload = Buffer.from(JSON.stringify({ sub: 'zoë', exp: 1 })).toString('base64url');
  assert.equal(L.tokenClaims(`x.${payload}.y`).sub, 'zoë');
  assert.equal(L.tokenClaims('garbage'), null);
});

test('the challenge is solved as ALTCHA defines it', async () => {
  const salt = 'abcd?expires=1&sale=s&user=alice&';
  const number = 1234;
  const ch = {
    algorithm: 'SHA-256', salt, maxnumber: 5000, signature: 'sig',
    challenge: createHash('sha256').update(salt + number).digest('hex'),
  };
  const shares = [];
  const sha256 = (bytes) => webcrypto.subtle.digest('SHA-256', bytes);
  assert.equal(await L.solveChallenge(ch, sha256, (s) => shares.push(s)), number);
  assert.ok(shares.length > 0 && shares.every((s, i) => s > 0 && s < 1 && (i === 0 || s > shares[i - 1])));
  const header = JSON.parse(Buffer.from(L.solutionHeader(ch, number), 'base64').toString());
  assert.deepEqual(header, { algorithm: 'SHA-256', challenge: ch.challenge, number, salt, signature: 'sig' });
  // the same with the plain-JavaScript digest
  assert.equal(await L.solveChallenge(ch, async (b) => L.sha256(b)), number);
  // none in range
  assert.equal(await L.solveChallenge(Object.assign({}, ch, { maxnumber: 1000 }), sha256), null);
});

test('a solution outlives the answers given before the service looks at it', () => {
  assert.equal(L.solutionUnspent(409, { error: { code: 'sold_out' } }), true);
  assert.equal(L.solutionUnspent(400, { error: { code: 'sale_not_active' } }), true);
  assert.equal(L.solutionUnspent(201, { order_id: 'o1' }), false);
  assert.equal(L.solutionUnspent(403, { error: { code: 'challenge_required' } }), false);
  assert.equal(L.solutionUnspent(429, { error: { code: 'rate_limited' } }), false);
  assert.equal(L.solutionUnspent(409, { error: { code: 'already_purchased' } }), false);
  assert.equal(L.solutionUnspent(0, null), false);
});

test("a paced challenge's solution waits for the salt's notbefore", () => {
  const paced = { salt: 'abcd?expires=1780315502&notbefore=1780315202250&sale=s&user=alice&' };
  assert.equal(L.solutionWait(paced, 1780315202000), 250);
  assert.equal(L.solutionWait(paced, 1780315202250), 0);
  assert.equal(L.solutionWait(paced, 1780315209000), 0);
  assert.equal(L.solutionWait({ salt: 'abcd?expires=1780315502&sale=s&user=alice&' }, 0), 0);
  assert.equal(L.solutionWait({ salt: 'no parameters' }, 0), 0);
});

test('the page renders at the start, not up to a tick after it', () => {
  const start = 1780315202000;
  assert.equal(L.renderDelay(start - 10000, [start]), 250, 'far from any moment: the tick');
  assert.equal(L.renderDelay(start - 40, [start]), 40, 'the next render is the start');
  assert.equal(L.renderDelay(start - 40, [start + 100, start, NaN, 0]), 40, 'the nearest moment ahead, past or unset ones ignored');
  assert.equal(L.renderDelay(start, [start]), 250, 'at the start: the tick again');
  assert.equal(L.renderDelay(start - 40, [start], 1000), 40);
});

test("the page's moments: the sale's start and end, a lottery's entries, its own", () => {
  const sale = { start_time: '2026-06-01T12:00:00Z', end_time: '2026-06-01T13:00:00Z' };
  const start = Date.parse(sale.start_time);
  assert.deepEqual(L.pageMoments(sale), [start, start + 3600000]);
  assert.deepEqual(L.pageMoments(sale, start + 5000, 0), [start, start + 3600000, start + 5000, 0]);
  const lottery = { ...sale, lottery: { entries_open: '2026-06-01T12:00:10Z', entries_close: '2026-06-01T12:10:00Z' } };
  const opens = Date.parse(lottery.lottery.entries_open);
  assert.deepEqual(L.pageMoments(lottery), [start, start + 3600000, opens, opens + 590000]);
  assert.equal(L.renderDelay(opens - 30, L.pageMoments(lottery)), 30, 'Enter comes alive at entries_open');
});

test('the plain-JavaScript SHA-256 agrees with node:crypto', () => {
  for (const text of ['', 'abc', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(64), 'salt?expires=1&user=zoë&123456', 'x'.repeat(1000)]) {
    const bytes = new TextEncoder().encode(text);
    const want = createHash('sha256').update(bytes).digest('hex');
    assert.equal(Buffer.from(L.sha256(bytes)).toString('hex'), want, `sha256 of ${text.length} chars`);
  }
});

test('a UUID without crypto.randomUUID', () => {
  const id = L.uuid({ getRandomValues: (b) => webcrypto.getRandomValues(b) });
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(L.uuid({ getRandomValues: (b) => webcrypto.getRandomValues(b) }), id);
});

test('a lottery\'s phases on the server clock', () => {
  const sale = { end_time: '2026-01-01T13:00:00Z', lottery: { entries_open: '2026-01-01T11:00:00Z', entries_close: '2026-01-01T12:00:00Z' } };
  const at = (s) => Date.parse(`2026-01-01T${s}Z`);
  assert.equal(L.lotteryPhase(sale, at('10:59:59'), false), 'before');
  assert.equal(L.lotteryPhase(sale, at('11:00:00'), false), 'open');
  assert.equal(L.lotteryPhase(sale, at('11:59:59.999'), false), 'open');
  assert.equal(L.lotteryPhase(sale, at('12:00:00'), false), 'drawing', 'entries_close itself is closed');
  assert.equal(L.lotteryPhase(sale, at('12:00:01'), true), 'drawn');
  assert.equal(L.lotteryPhase(sale, at('13:00:00'), true), 'ended');
});

test('an entry reads as its status', () => {
  assert.match(L.describeEntry({ status: 'entered' }), /in the draw/);
  assert.match(L.describeEntry({ status: 'won', order_id: 'o' }), /You won!.*pay/);
  assert.match(L.describeEntry({ status: 'won' }), /being made/);
  assert.match(L.describeEntry({ status: 'waitlisted', rank: 12 }), /number 12 on the waitlist/);
  assert.match(L.describeEntry({ status: 'lost' }), /Not drawn/);
  assert.equal(L.describeEntry(null), '');
  assert.equal(L.entryLabel({ status: 'won' }), 'Won');
  assert.equal(L.entryLabel(undefined), 'Enter the draw');
});

test('entries are polled while the result is awaited, seldom when waitlisted, never when settled', () => {
  const half = () => 0.5;
  assert.equal(L.lotteryPollDelay('drawing', [{ status: 'entered' }], half), 2500);
  assert.equal(L.lotteryPollDelay('drawn', [{ status: 'won' }], half), 2500, 'won, the order not yet made');
  assert.equal(L.lotteryPollDelay('open', [{ status: 'entered' }], half), 0, 'nothing changes before the close');
  assert.equal(L.lotteryPollDelay('drawn', [{ status: 'waitlisted', rank: 3 }], half), 17500);
  assert.equal(L.lotteryPollDelay('drawn', [{ status: 'won', order_id: 'o' }, { status: 'lost' }], half), 0);
  assert.equal(L.lotteryPollDelay('ended', [{ status: 'waitlisted' }], half), 0);
  assert.equal(L.lotteryPollDelay('drawing', [], half), 0);
});

test('the verify command names the origin and the sale', () => {
  assert.equal(L.verifyCommand('https://shop.example', 's1'), 'flashsale verify-draw --url https://shop.example --sale s1');
});
