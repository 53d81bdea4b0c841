// The console's logic without the DOM: reading Prometheus's text format,
// rates between two scrapes, the charts' scales and lines, the sale form
// turned into the admin API's body, an API error's field found in the
// form, and operating a sale: the orders' query, a restock's body, an
// audit entry in words. Loaded by the console and by node --test.
(function (root, factory) {
  const api = factory();
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.ConsoleLogic = api;
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  // parseMetrics reads Prometheus's text exposition format (what GET
  // /metrics serves) into samples {name, labels, value}. Comments, blank
  // lines and timestamps are skipped; label values are unescaped (\\, \"
  // and \n); NaN and ±Inf are numbers like any other.
  function parseMetrics(text) {
    const samples = [];
    for (const raw of String(text).split('\n')) {
      const line = raw.trim();
      if (!line || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
      if (!m) continue;
      const name = m[1];
      let i = name.length;
      const labels = {};
      if (line[i] === '{') {
        i++;
        for (;;) {
          while (line[i] === ' ' || line[i] === ',') i++;
          if (line[i] === '}') { i++; break; }
          const key = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(i));
          if (!key) { i = -1; break; }
          i += key[0].length;
          let value = '';
          for (; i < line.length && line[i] !== '"'; i++) {
            if (line[i] === '\\' && i + 1 < line.length) {
              i++;
              value += line[i] === 'n' ? '\n' : line[i];
            } else value += line[i];
          }
          if (i >= line.length) { i = -1; break; }
          i++; // the closing quote
          labels[key[1]] = value;
        }
        if (i < 0) continue; // a line cut short: skip it, not the scrape
      }
      const fields = line.slice(i).trim().split(/\s+/);
      const value = parseValue(fields[0]);
      if (value === null) continue;
      samples.push({ name, labels, value });
    }
    return samples;
  }

  function parseValue(s) {
    if (s === '+Inf' || s === 'Inf') return Infinity;
    if (s === '-Inf') return -Infinity;
    if (s === 'NaN') return NaN;
    if (s === undefined || s === '') return null;
    const v = Number(s);
    return Number.isNaN(v) ? null : v;
  }

  // sumBy adds up the samples of one metric whose labels match where (a
  // label -> value object), grouped by the value of label by.
  function sumBy(samples, name, where, by) {
    const out = {};
    for (const s of samples) {
      if (s.name !== name) continue;
      if (Object.keys(where || {}).some((k) => s.labels[k] !== where[k])) continue;
      const key = by ? s.labels[by] || '' : '';
      out[key] = (out[key] || 0) + s.value;
    }
    return out;
  }

  // rates turns two readings of counters (key -> count), dt seconds
  // apart, into per-second rates. A counter that went down was reset (the
  // process restarted): its count since is its increase. A key new in the
  // second reading counts from zero.
  function rates(before, after, dt) {
    const out = {};
    if (!(dt > 0)) return out;
    for (const [key, now] of Object.entries(after || {})) {
      const was = (before && before[key]) || 0;
      const increase = now >= was ? now - was : now;
      out[key] = increase / dt;
    }
    return out;
  }

  // niceScale gives a chart's value axis from 0 (counts and rates are
  // never negative) to a round number at or above max, and its ticks at a
  // round step (1, 2 or 5 times a power of ten), about count of them.
  function niceScale(max, count = 4) {
    if (!(max > 0) || !Number.isFinite(max)) return { max: 1, step: 1, ticks: [0, 1] };
    const rough = max / count;
    const power = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
    const top = Math.ceil(max / step - 1e-9) * step;
    const ticks = [];
    for (let v = 0; v <= top + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
    return { max: top, step, ticks };
  }

  // linePath is an SVG path through points [t, v] on a plot of width by
  // height, time from t0 to t1 left to right, values from 0 to max bottom
  // to top. Points outside the time window are left out.
  function linePath(points, t0, t1, max, width, height) {
    const span = t1 - t0 || 1;
    let d = '';
    for (const [t, v] of points) {
      if (t < t0 || t > t1 || !Number.isFinite(v)) continue;
      const x = ((t - t0) / span) * width;
      const y = height - (Math.max(0, Math.min(v, max)) / max) * height;
      d += `${d ? 'L' : 'M'}${round(x)} ${round(y)}`;
    }
    return d;
  }

  function round(n) {
    return Math.round(n * 10) / 10;
  }

  // History keeps the last readings of named series over a time window.
  class History {
    constructor(windowMs = 300000) {
      this.windowMs = windowMs;
      this.series = {};
    }
    add(t, values) {
      for (const [name, v] of Object.entries(values)) {
        (this.series[name] = this.series[name] || []).push([t, v]);
      }
      for (const points of Object.values(this.series)) {
        while (points.length && points[0][0] < t - this.windowMs) points.shift();
      }
    }
    max() {
      let m = 0;
      for (const points of Object.values(this.series)) for (const [, v] of points) if (v > m) m = v;
      return m;
    }
    last(name) {
      const points = this.series[name] || [];
      return points.length ? points[points.length - 1][1] : undefined;
    }
  }

  // saleBody turns the sale form's values (strings from its inputs,
  // booleans from its checkboxes) into POST /admin/flash-sales's body.
  // Empty optional fields are left out, so the API's defaults apply;
  // numbers are sent as numbers and times as RFC 3339 in UTC (the
  // form's are the browser's local time). A value that is not a number is
  // sent as the text it is, for the API to name the field.
  function saleBody(f, toISO = localToISO) {
    const body = { name: f.name, start_time: toISO(f.start_time), end_time: toISO(f.end_time) };
    if (f.mode) body.mode = f.mode;
    if (f.admission) body.admission = f.admission;
    put(body, 'reservation_ttl_seconds', f.reservation_ttl_seconds);
    if (f.mode === 'lottery') body.lottery = { entries_open: toISO(f.entries_open), entries_close: toISO(f.entries_close) };
    body.items = (f.items || []).map((it) => {
      const item = { product_id: it.product_id, name: it.name, original_price: it.original_price,
        sale_price: it.sale_price, currency: it.currency };
      put(item, 'total_quantity', it.total_quantity, true);
      put(item, 'per_user_limit', it.per_user_limit);
      return item;
    });
    if (f.waiting_room) {
      const w = {};
      put(w, 'admit_per_minute', f.waiting_room.admit_per_minute, true);
      for (const k of ['max_active', 'session_seconds', 'pre_queue_seconds', 'abandon_seconds', 'overbook']) put(w, k, f.waiting_room[k]);
      if (f.waiting_room.order) w.order = f.waiting_room.order;
      body.waiting_room = w;
    }
    if (f.challenge && f.challenge.policy) {
      const c = { policy: f.challenge.policy };
      put(c, 'max_number', f.challenge.max_number);
      put(c, 'pace', f.challenge.pace);
      body.challenge = c;
    }
    if (f.limits) {
      const l = {};
      for (const k of ['per_card', 'per_phone', 'per_address', 'min_account_age_days']) put(l, k, f.limits[k]);
      if (f.limits.require_verified_phone) l.require_verified_phone = true;
      if (Object.keys(l).length) body.limits = l;
    }
    return body;
  }

  // put sets obj[key] from a form's text: a number when it reads as one,
  // the text itself otherwise; nothing when empty, unless required.
  function put(obj, key, text, required) {
    const s = text == null ? '' : String(text).trim();
    if (s === '') {
      if (required) obj[key] = null;
      return;
    }
    const n = Number(s);
    obj[key] = Number.isFinite(n) ? n : s;
  }

  // localToISO reads a datetime-local input's value (the browser's time
  // zone) as RFC 3339 in UTC; what it cannot read goes as it is, for the
  // API to refuse by name.
  function localToISO(value) {
    if (!value) return '';
    const t = new Date(value);
    return Number.isNaN(t.getTime()) ? value : t.toISOString();
  }

  // isoToLocal is the datetime-local value (to the second) of a time.
  function isoToLocal(ms) {
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  }

  // fieldFor finds where an API error's field (a JSON path such as
  // items[1].sale_price) is shown in a form that has the paths in known:
  // the path itself, else the nearest enclosing one (items[1], then
  // items), else '' (the form as a whole).
  function fieldFor(path, known) {
    let p = String(path || '');
    while (p) {
      if (known.has(p)) return p;
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) break;
      p = p.slice(0, cut);
    }
    return '';
  }

  // reconcileRows sums a reconcile report up per item, for a table.
  function reconcileRows(report) {
    return ((report && report.items) || []).map((it) => ({
      item_id: it.item_id,
      before: counts(it.inventory),
      store: counts(it.store),
      after: counts(it.after),
      repaired: (it.released || []).length + (it.confirmed || []).length + (it.orphans || []).length,
      missing: (it.missing_from_inventory || []).length,
      consistent: !!it.consistent,
    }));
  }

  function counts(c) {
    return c ? `${c.available} / ${c.reserved} / ${c.sold} of ${c.total}` : '';
  }

  // ordersQuery is GET /admin/flash-sales/{id}/orders's query string for
  // a filter, a cursor and a page size, leaving out what is empty.
  function ordersQuery(q) {
    const parts = [];
    for (const k of ['status', 'cursor', 'limit']) {
      const v = q && q[k];
      if (v !== undefined && v !== null && v !== '') parts.push(`${k}=${encodeURIComponent(v)}`);
    }
    return parts.length ? '?' + parts.join('&') : '';
  }

  // shortID shortens an id for a table: its last 8 characters, the
  // random end of a UUIDv7 (the start is a timestamp that orders of the
  // same minute share).
  function shortID(id) {
    const s = String(id || '');
    return s.length > 12 ? '…' + s.slice(-8) : s;
  }

  // restockBody is PATCH's body that adds text's units to one item: a
  // number when it reads as one, else as it is (null when empty), for the
  // API to name the field.
  function restockBody(itemID, text) {
    const item = { item_id: itemID };
    put(item, 'add_quantity', text, true);
    return { items: [item] };
  }

  // auditSummary tells what an entry of GET /admin/audit changed, before →
  // after, from its request and the sale (or the order) before and after;
  // time formats the times it names.
  function auditSummary(e, time = (iso) => iso) {
    const req = (e && e.request) || {};
    const before = (e && e.before) || {};
    const after = (e && e.after) || {};
    const v = (x) => (x === undefined || x === null ? '?' : x);
    const parts = [];
    switch (e && e.action) {
      case 'create_sale':
        return `created “${v(after.name)}”: ${(after.items || []).length} item(s), ${time(after.start_time)} to ${time(after.end_time)}`;
      case 'refund':
        return `order ${shortID(after.order_id)} confirmed → ${v(after.status)}, ${req.restock ? 'units back on sale' : 'not restocked'}`;
      case 'reconcile':
        return (after.items || []).every((it) => it.consistent) ? 'reconciled: consistent' : 'reconciled: NOT consistent';
      case 'change_sale':
        if (typeof req.paused === 'boolean') parts.push(`paused ${!!before.paused} → ${!!after.paused}`);
        if (req.end_time) parts.push(`ends ${before.end_time ? time(before.end_time) : '?'} → ${after.end_time ? time(after.end_time) : '?'}`);
        for (const it of req.items || []) {
          const find = (s) => (s.items || []).find((x) => x.item_id === it.item_id) || {};
          const b = find(before); const a = find(after);
          parts.push(`restock ${a.name || b.name || it.item_id} +${v(it.add_quantity)}: ${v(b.total_quantity)} → ${v(a.total_quantity)} units`);
        }
        break;
      default:
        for (const [k, x] of Object.entries(req)) parts.push(`${k} → ${typeof x === 'object' ? JSON.stringify(x) : x}`);
    }
    return parts.join('; ') || 'no change';
  }

  // csvRecords counts the records of a CSV text (a header included): its
  // line ends outside quotes, and a last line without one.
  function csvRecords(text) {
    let n = 0; let quoted = false; let open = false;
    for (const c of String(text)) {
      if (c === '"') quoted = !quoted;
      if (c === '\n' && !quoted) {
        n++;
        open = false;
      } else if (c !== '\r') open = true;
    }
    return n + (open ? 1 : 0);
  }

  return { parseMetrics, sumBy, rates, niceScale, linePath, History, saleBody, localToISO, isoToLocal, fieldFor, reconcileRows,
    ordersQuery, shortID, restockBody, auditSummary, csvRecords };
});
