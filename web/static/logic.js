// The page's logic without the DOM: the server clock, retry delays, how an
// answer of the API is read, order and ticket updates, the proof of work.
// Loaded by the page, by the challenge worker, and by node --test.
(function (root, factory) {
  const api = factory();
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.FlashLogic = api;
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  // ServerClock tells the server's time from the device's monotonic clock
  // (performance.now()), so that a device whose clock is wrong still
  // counts down to the real start. Each sample is a response's server_time
  // with when its request left and its answer arrived; the estimate is the
  // server time at the midpoint. A response that a cache kept carries an
  // older server_time and so a smaller offset: the largest of the recent
  // samples is the freshest.
  class ServerClock {
    constructor(keep = 8) {
      this.keep = keep;
      this.samples = [];
    }
    sample(serverTime, sentAt, receivedAt) {
      const server = typeof serverTime === 'number' ? serverTime : Date.parse(serverTime);
      if (!Number.isFinite(server) || !(receivedAt >= sentAt)) return this.offset();
      this.samples.push(server - (sentAt + receivedAt) / 2);
      if (this.samples.length > this.keep) this.samples.shift();
      return this.offset();
    }
    offset() {
      return this.samples.length ? Math.max(...this.samples) : null;
    }
    synced() {
      return this.samples.length > 0;
    }
    // now returns the server's time in ms since the epoch.
    now(deviceNow) {
      return deviceNow + (this.offset() ?? 0);
    }
  }

  // formatDuration renders ms as "M:SS", "H:MM:SS" or "D d HH:MM:SS",
  // rounded up to the second: a countdown reads 0:00 only at the moment.
  function formatDuration(ms) {
    let s = Math.max(0, Math.ceil(ms / 1000));
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    const two = (n) => String(n).padStart(2, '0');
    if (d > 0) return `${d} d ${two(h)}:${two(m)}:${two(s)}`;
    if (h > 0) return `${h}:${two(m)}:${two(s)}`;
    return `${m}:${two(s)}`;
  }

  // retryAfterMs reads how long the server asks a client to wait: the
  // error's retry_after_ms when given (finer), else Retry-After in seconds
  // or as an HTTP date. 0 when neither says.
  function retryAfterMs(header, body, now = Date.now()) {
    const fromBody = body && body.error && body.error.retry_after_ms;
    if (Number.isFinite(fromBody) && fromBody > 0) return fromBody;
    if (header == null || header === '') return 0;
    if (/^\d+$/.test(String(header).trim())) return Number(header) * 1000;
    const date = Date.parse(header);
    return Number.isFinite(date) ? Math.max(0, date - now) : 0;
  }

  // backoffDelay is how long to wait before retry number attempt (0 for
  // the first retry) of a request answered 503: at least what the server
  // asked, doubling per attempt up to cap, and spread at random over the
  // upper half of that, so that a crowd refused together does not come
  // back together, and no client retries in a tight loop.
  function backoffDelay(attempt, serverAskedMs = 0, random = Math.random, base = 500, cap = 30000) {
    const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt));
    const floor = Math.max(serverAskedMs, ceiling / 2);
    return Math.round(floor + random() * (ceiling / 2));
  }

  // retryable says whether an answer is worth the same request again
  // after a wait, without the shopper doing anything: the service was
  // busy or unreachable (status 0: the network failed), a payment of the
  // order is still being settled, or a paced challenge's solution came
  // before its time (it stays good).
  function retryable(status, body) {
    const code = errorCode(body);
    return status === 0 || status === 502 || status === 504 ||
      (status === 503) || (status === 409 && code === 'payment_in_progress') ||
      (status === 429 && code === 'rate_limited' && body.error.reason === 'challenge_early');
  }

  function errorCode(body) {
    return (body && body.error && body.error.code) || '';
  }

  // The order statuses that no shopper's step changes again; a confirmed
  // order may still be refunded by the shop, which is the last word.
  const FINAL = ['confirmed', 'expired', 'cancelled', 'payment_failed', 'refunded'];

  // mergeOrder returns the order as it stands after update (an order body
  // from the API, or an event's order), given what the page knew: a final
  // status is never replaced by an earlier one that arrives late, and
  // fields the update lacks are kept.
  function mergeOrder(current, update) {
    if (!update || !update.order_id) return current;
    if (current && current.order_id !== update.order_id) return current;
    if (current && FINAL.includes(current.status) && !FINAL.includes(update.status)) return current;
    if (current && current.status === 'refunded' && update.status !== 'refunded') return current;
    return Object.assign({}, current || {}, update);
  }

  // EventLog applies the events of GET /events once each: the stream may
  // replay what was already sent after a reconnection.
  class EventLog {
    constructor(max = 500) {
      this.max = max;
      this.seen = new Set();
    }
    // fresh reports whether an event id was not yet applied, and records
    // it. Queue events have no id: each is the place as it stands.
    fresh(id) {
      if (!id) return true;
      if (this.seen.has(id)) return false;
      this.seen.add(id);
      if (this.seen.size > this.max) this.seen.delete(this.seen.values().next().value);
      return true;
    }
  }

  // applyEvent returns the page's order after an event of GET /events
  // (type and parsed data), or the order unchanged when the event is about
  // another one.
  function applyEvent(order, type, data) {
    if (!data || !data.order) return order;
    const update = Object.assign({}, data.order);
    if (type === 'order.payment_declined') update.last_payment_error = data.order.reason || 'card_declined';
    return mergeOrder(order, update);
  }

  const REASONS = {
    card_declined: 'the card was declined',
    insufficient_funds: 'the card has insufficient funds',
    expired_card: 'the card has expired',
    processing_error: 'the payment provider failed',
  };
  function declineReason(reason) {
    return REASONS[reason] || (reason ? reason.replace(/_/g, ' ') : 'the payment failed');
  }

  // describeTicket turns a waiting-room ticket into what the shopper reads.
  function describeTicket(t) {
    switch (t && t.status) {
      case 'pre_queue':
        return 'You are in the line before the start. At the start everyone here gets a place drawn at random, ahead of later arrivals.';
      case 'waiting': {
        const wait = t.estimated_wait_seconds > 0 ? `, about ${formatWait(t.estimated_wait_seconds)} to wait` : '';
        const ahead = t.ahead === 1 ? '1 person ahead of you' : `${t.ahead} people ahead of you`;
        if (t.paused) return `You are number ${t.position} in line: ${ahead}. The shop has paused the sale; your place is kept.`;
        return `You are number ${t.position} in line: ${ahead}${wait}.`;
      }
      case 'admitted':
        return 'It is your turn: you may buy now.';
      case 'expired':
        return 'Your place in line expired. Join again to go to the back of the line.';
      case 'sold_out':
        return 'Sold out: every unit has been taken.';
      default:
        return '';
    }
  }

  function formatWait(seconds) {
    if (seconds < 60) return `${seconds} s`;
    const minutes = Math.round(seconds / 60);
    return minutes === 1 ? '1 minute' : `${minutes} minutes`;
  }

  // lotteryPhase says where a lottery sale stands at server time now:
  // 'before' its entries open, 'open' for entries, 'drawing' from
  // entries_close until the draw is published (drawn), 'drawn' after,
  // 'ended' once the sale is over.
  function lotteryPhase(sale, now, drawn) {
    const l = sale.lottery || {};
    if (now >= Date.parse(sale.end_time)) return 'ended';
    if (now < Date.parse(l.entries_open)) return 'before';
    if (now < Date.parse(l.entries_close)) return 'open';
    return drawn ? 'drawn' : 'drawing';
  }

  // describeEntry turns a lottery entry into what the shopper reads.
  function describeEntry(e) {
    switch (e && e.status) {
      case 'entered':
        return 'You are in the draw. The result comes when entries close.';
      case 'won':
        return e.order_id ? 'You won! Your unit is reserved: pay for it below.' : 'You won! Your reservation is being made…';
      case 'waitlisted':
        return `Not drawn this time, but you are number ${e.rank} on the waitlist: an unpaid winner's unit goes to the waitlist in order.`;
      case 'lost':
        return 'Not drawn: every unit has gone to other entries.';
      default:
        return '';
    }
  }

  // entryLabel is the item's button while the shopper holds an entry.
  const ENTRY_LABELS = { entered: 'Entered', won: 'Won', waitlisted: 'Waitlisted', lost: 'Not drawn' };
  function entryLabel(e) {
    return ENTRY_LABELS[e && e.status] || 'Enter the draw';
  }

  // lotteryPollDelay is how long to wait before asking again for the
  // shopper's entries, or 0 not to: often while the draw is under way
  // (the result is what they wait for), seldom while waitlisted (a unit
  // comes back when a winner does not pay), never once every entry is
  // settled. Spread at random so that the crowd does not ask together.
  function lotteryPollDelay(phase, entries, random = Math.random) {
    const list = entries || [];
    if (!list.length || phase === 'ended') return 0;
    if (list.some((e) => e.status === 'entered' || (e.status === 'won' && !e.order_id))) {
      if (phase === 'drawing' || phase === 'drawn') return Math.round(2000 + random() * 1000);
      return 0;
    }
    if (list.some((e) => e.status === 'waitlisted')) return Math.round(15000 + random() * 5000);
    return 0;
  }

  // verifyCommand is the command line that checks a sale's draw from its
  // published data alone.
  function verifyCommand(origin, saleID) {
    return `flashsale verify-draw --url ${origin} --sale ${saleID}`;
  }

  // tokenClaims reads a JWT's payload without checking it (the server
  // does): the page shows whom a pasted token speaks for.
  function tokenClaims(token) {
    try {
      const part = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bin = atob(part + '='.repeat((4 - (part.length % 4)) % 4));
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
    } catch (e) {
      return null;
    }
  }

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // solveChallenge finds the number in [0, maxnumber] whose SHA-256 of
  // salt + number (decimal) is the challenge, ALTCHA's proof of work.
  // sha256 returns a promise of the digest's bytes; progress is told the
  // share searched so far; stop() ends the search early. Resolves to the
  // number, or null when none fits.
  async function solveChallenge(ch, sha256, progress = () => {}, stop = () => false) {
    const encoder = new TextEncoder();
    const target = String(ch.challenge).toLowerCase();
    const max = Number(ch.maxnumber);
    const batch = 256;
    for (let start = 0; start <= max; start += batch) {
      if (stop()) return null;
      const end = Math.min(max, start + batch - 1);
      const digests = [];
      for (let n = start; n <= end; n++) digests.push(sha256(encoder.encode(ch.salt + n)));
      const found = (await Promise.all(digests)).findIndex((d) => hex(d) === target);
      if (found >= 0) return start + found;
      progress((end + 1) / (max + 1));
    }
    return null;
  }

  // sha256 is SHA-256 in plain JavaScript, for a page served over plain
  // HTTP away from localhost, where browsers withhold crypto.subtle.
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  function sha256(bytes) {
    const length = bytes.length;
    const padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[length] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
    view.setUint32(padded.length - 4, length << 3);
    const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    const w = new Uint32Array(64);
    const rotr = (x, n) => (x >>> n) | (x << (32 - n));
    for (let off = 0; off < padded.length; off += 64) {
      for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + 4 * i);
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let i = 0; i < 64; i++) {
        const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    h.forEach((v, i) => outView.setUint32(4 * i, v));
    return out.buffer;
  }

  // uuid is a random UUIDv4, also where crypto.randomUUID is withheld
  // (plain HTTP away from localhost).
  function uuid(c = globalThis.crypto) {
    if (c.randomUUID) return c.randomUUID();
    const b = c.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = hex(b.buffer);
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  // solutionUnspent says whether a press's solved challenge is still good
  // after its answer: the service answers a sold-out item and a sale not
  // active before it looks at a solution, so the next press may carry it.
  // (The few sold_out answers the inventory itself gives, in the instant
  // an item sells out, come after the solution was spent: the next press
  // then finds it used and is challenged afresh.)
  function solutionUnspent(status, body) {
    const code = errorCode(body);
    return (status === 409 && code === 'sold_out') || (status === 400 && code === 'sale_not_active');
  }

  // solutionWait is how long after nowMs (the server's clock, Unix ms) a
  // solution of ch may be sent: a paced sale's challenge names in its salt
  // (notbefore, Unix ms) the instant before which the service refuses it.
  function solutionWait(ch, nowMs) {
    const query = String(ch.salt).split('?')[1] || '';
    const notBefore = Number(new URLSearchParams(query).get('notbefore'));
    return notBefore > nowMs ? notBefore - nowMs : 0;
  }

  // renderDelay is how long after nowMs (the server's clock, Unix ms) the
  // page renders next: a tick after this render, or sooner at the next of
  // moments (Unix ms) that changes what it shows. A button that comes
  // alive at the start then does so at the start on every page, not up
  // to a tick later on each by the phase of its own timer: a quarter of a
  // second that decides who gets a unit in a sale that sells out in one.
  function renderDelay(nowMs, moments, tickMs = 250) {
    let delay = tickMs;
    for (const m of moments) if (m > nowMs) delay = Math.min(delay, m - nowMs);
    return delay;
  }

  // pageMoments are the instants (Unix ms) at which a sale's page changes
  // by itself: the start and the end, a lottery's entry window, and the
  // page's own (own: the end of a Retry-After, the line's opening).
  function pageMoments(sale, ...own) {
    const times = [sale.start_time, sale.end_time];
    if (sale.lottery) times.push(sale.lottery.entries_open, sale.lottery.entries_close);
    return [...times.map(Date.parse), ...own];
  }

  // solutionHeader is the Flashsale-Challenge header's value: standard
  // base64 of the JSON ALTCHA's widget sends.
  function solutionHeader(ch, number) {
    const json = JSON.stringify({
      algorithm: ch.algorithm, challenge: ch.challenge, number, salt: ch.salt, signature: ch.signature,
    });
    return btoa(String.fromCharCode(...new TextEncoder().encode(json)));
  }

  return {
    ServerClock, formatDuration, retryAfterMs, backoffDelay, retryable, errorCode, FINAL, mergeOrder,
    EventLog, applyEvent, declineReason, describeTicket, tokenClaims,
    lotteryPhase, describeEntry, entryLabel, lotteryPollDelay, verifyCommand, solveChallenge, solutionUnspent, solutionWait, renderDelay, pageMoments, solutionHeader, sha256, uuid,
  };
});
