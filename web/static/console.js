// The operators' console at /console/: the sales, a new sale with every
// setting of the admin API, and a sale's live view (#sale/<id>) where it is
// operated too (pause, end, restock, orders and refunds, audit). It calls
// the admin routes with the admin token pasted into it and reads GET
// /metrics; ConsoleLogic (charts.js) holds what is tested without a
// browser.
(function () {
  'use strict';
  const C = window.ConsoleLogic;
  const $ = (id) => document.getElementById(id);
  const TICK_MS = 2000;
  const COLOURS = ['#0b57d0', '#a30000', '#0a6b2b', '#7b1fa2', '#8a4b00', '#37474f'];
  // Dashes as well as colours: the lines read apart without colour.
  const DASHES = ['', '8 4', '2 3', '10 3 2 3', '4 4', '1 2'];

  const state = {
    token: sessionStorage.getItem('flashsale.admin') || '',
    watching: null, // the live view: {id, sale, timer, history...}
  };

  // --- the API -------------------------------------------------------

  // call sends one request with the admin token and reads its answer:
  // JSON, or text for /metrics and a CSV export. Status 0 is a network
  // failure.
  async function call(method, path, body, accept = 'application/json') {
    const headers = { Accept: accept };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    let res;
    try {
      res = await fetch(path, { method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      return { status: 0, body: null };
    }
    const text = await res.text();
    let data = text;
    if ((res.headers.get('Content-Type') || '').includes('json')) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (res.status === 401 && state.token) signOut('The token was refused (invalid or expired): paste another.');
    return { status: res.status, body: data };
  }

  function errorText(r) {
    if (r.status === 0) return 'The service cannot be reached.';
    if (r.status === 403) return 'This token is not an admin\'s: sign in with a token made with --admin.';
    const e = r.body && r.body.error;
    return e ? `${e.message} (${e.code}${e.field ? ', field ' + e.field : ''})` : `Unexpected answer (${r.status}).`;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function message(text) {
    setText($('message'), text || '');
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    e.append(...children.filter((c) => c !== null && c !== undefined));
    return e;
  }

  function when(iso) {
    return new Date(iso).toLocaleString();
  }

  // --- sign-in ---------------------------------------------------------

  function claims(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
    } catch (e) {
      return null;
    }
  }

  function renderWho() {
    const c = state.token ? claims(state.token) : null;
    $('signin').hidden = !!state.token;
    $('who').hidden = !state.token;
    setText($('who-name'), c && c.sub ? c.sub : 'token holder');
    if (state.token && c && c.role !== 'admin') message('This token has no admin role: the admin routes will refuse it.');
  }

  function signOut(why) {
    state.token = '';
    sessionStorage.removeItem('flashsale.admin');
    renderWho();
    message(why || 'Signed out.');
  }

  // --- the sales -------------------------------------------------------

  async function loadSales() {
    const r = await call('GET', '/flash-sales');
    if (r.status !== 200) return message(errorText(r));
    const rows = r.body.sales.map((s) => {
      const a = el('a', { href: '#sale/' + encodeURIComponent(s.sale_id) }, s.name);
      return el('tr', {}, el('th', { scope: 'row' }, a), el('td', {}, s.status), el('td', {}, s.mode || 'fcfs'),
        el('td', {}, when(s.start_time)), el('td', {}, when(s.end_time)),
        el('td', {}, s.items.map((it) => `${it.name} (${it.remaining_quantity}/${it.total_quantity})`).join(', ')));
    });
    $('sales').replaceChildren(...rows);
    $('no-sales').hidden = rows.length > 0;
    $('sales-table').hidden = rows.length === 0;
  }

  // --- the new sale ----------------------------------------------------

  let itemCount = 0;

  function addItem() {
    const fs = $('item-template').content.firstElementChild.cloneNode(true);
    const n = itemCount++;
    for (const input of fs.querySelectorAll('input')) {
      input.id = `f-item${n}-${input.dataset.key}`;
      input.previousElementSibling.htmlFor = input.id;
    }
    fs.querySelector('.remove-item').addEventListener('click', () => {
      fs.remove();
      numberItems();
    });
    $('items').append(fs);
    numberItems();
  }

  // numberItems names each item's inputs by its JSON path (items[0].name),
  // as the API's errors name them.
  function numberItems() {
    const sets = $('items').querySelectorAll('fieldset.item');
    sets.forEach((fs, i) => {
      fs.dataset.field = `items[${i}]`;
      fs.querySelector('legend').textContent = `Item ${i + 1}`;
      for (const input of fs.querySelectorAll('input')) input.name = `items[${i}].${input.dataset.key}`;
      fs.querySelector('.remove-item').hidden = sets.length === 1;
    });
  }

  function formValues() {
    const form = $('create');
    const v = (name) => {
      const input = form.elements.namedItem(name);
      return input ? (input.type === 'checkbox' ? input.checked : input.value) : '';
    };
    const f = {
      name: v('name'), start_time: v('start_time'), end_time: v('end_time'), mode: v('mode'), admission: v('admission'),
      reservation_ttl_seconds: v('reservation_ttl_seconds'),
      entries_open: v('lottery.entries_open'), entries_close: v('lottery.entries_close'),
      items: [...$('items').querySelectorAll('fieldset.item')].map((fs) => {
        const item = {};
        for (const input of fs.querySelectorAll('input')) item[input.dataset.key] = input.value;
        return item;
      }),
      challenge: { policy: v('challenge.policy'), max_number: v('challenge.max_number'), pace: v('challenge.pace') },
      limits: {},
    };
    for (const k of ['per_card', 'per_phone', 'per_address', 'min_account_age_days', 'require_verified_phone']) f.limits[k] = v('limits.' + k);
    if (v('waiting_room')) {
      f.waiting_room = {};
      for (const k of ['admit_per_minute', 'max_active', 'session_seconds', 'pre_queue_seconds', 'order', 'abandon_seconds', 'overbook']) {
        f.waiting_room[k] = v('waiting_room.' + k);
      }
    }
    return f;
  }

  function clearErrors(form) {
    for (const e of form.querySelectorAll('.field-error')) e.remove();
    for (const e of form.querySelectorAll('[aria-invalid]')) {
      e.removeAttribute('aria-invalid');
      const ids = (e.getAttribute('aria-describedby') || '').split(' ').filter((id) => id && !id.endsWith('-error'));
      if (ids.length) e.setAttribute('aria-describedby', ids.join(' '));
      else e.removeAttribute('aria-describedby');
    }
  }

  // showFieldError puts the API's message next to the field it names
  // (or the nearest part of the form that holds it), marks it invalid and
  // moves the focus there; it returns whether a place was found.
  function showFieldError(form, field, text) {
    const known = new Map();
    for (const e of form.querySelectorAll('[name], [data-field]')) {
      const key = e.name || e.dataset.field;
      if (key && !known.has(key)) known.set(key, e);
    }
    const at = C.fieldFor(field, known);
    if (!at) return false;
    const target = known.get(at);
    const id = (target.id || 'f-' + at.replace(/[^a-z0-9]+/gi, '-')) + '-error';
    const note = el('p', { class: 'field-error', id }, text);
    if (target.tagName === 'FIELDSET' || target.dataset.field) {
      target.querySelector('legend') ? target.querySelector('legend').after(note) : target.prepend(note);
      const first = target.querySelector('input, select');
      if (first) first.focus();
    } else {
      target.closest('.field').append(note);
      target.setAttribute('aria-invalid', 'true');
      target.setAttribute('aria-describedby', ((target.getAttribute('aria-describedby') || '') + ' ' + id).trim());
      target.focus();
    }
    return true;
  }

  async function createSale(e) {
    e.preventDefault();
    const form = $('create');
    clearErrors(form);
    const button = $('create-submit');
    button.disabled = true;
    setText($('create-status'), 'Creating…');
    try {
      const r = await call('POST', '/admin/flash-sales', C.saleBody(formValues()));
      if (r.status === 201) {
        setText($('create-status'), `Created “${r.body.name}”.`);
        location.hash = 'sale/' + encodeURIComponent(r.body.sale_id);
        return;
      }
      const err = r.body && r.body.error;
      const shown = err && err.field && showFieldError(form, err.field, err.message);
      setText($('create-status'), `The sale was not created: ${errorText(r)}` + (shown ? ' See the field marked below.' : ''));
    } finally {
      button.disabled = false;
    }
  }

  function prefill() {
    const now = Date.now();
    const minute = now - (now % 60000);
    $('f-name').value = 'Flash sale';
    $('f-start').value = C.isoToLocal(minute);
    $('f-end').value = C.isoToLocal(minute + 3600000);
    $('f-entries-open').value = C.isoToLocal(minute);
    $('f-entries-close').value = C.isoToLocal(minute + 600000);
    addItem();
  }

  // --- the live view ---------------------------------------------------

  function stopWatching() {
    if (state.watching) clearTimeout(state.watching.timer);
    state.watching = null;
  }

  async function watch(id) {
    stopWatching();
    const w = { id, sale: null, timer: 0, ticks: 0, stock: {}, rps: new C.History(), queue: new C.History(),
      counters: null, rejections: null, at: 0 };
    state.watching = w;
    $('sale-view').hidden = false;
    setText($('sale-name'), 'Loading…');
    $('stock').replaceChildren();
    $('rps').replaceChildren();
    $('rejections').replaceChildren();
    $('reconcile-report').replaceChildren();
    $('queue-panel').hidden = true;
    for (const id of ['op-restock', 'orders', 'audit']) $(id).replaceChildren();
    for (const id of ['op-run-status', 'op-extend-status', 'orders-status', 'audit-status']) setText($(id), '');
    $('op-end-confirm').hidden = true;
    $('sale-name').focus();
    await loadSale(w);
    loadOrders(w, false);
    loadAudit(w);
    tick(w);
  }

  async function loadSale(w) {
    const seq = w.saleSeq = (w.saleSeq || 0) + 1;
    const r = await call('GET', '/flash-sales/' + encodeURIComponent(w.id));
    if (state.watching !== w || w.saleSeq !== seq) return; // a change answered meanwhile
    if (r.status !== 200) {
      setText($('sale-name'), r.status === 404 ? 'No such sale' : 'The sale could not be loaded');
      return message(errorText(r));
    }
    showSale(w, r.body);
  }

  function showSale(w, s) {
    w.sale = s;
    document.title = s.name + ' · Flash sale console';
    setText($('sale-name'), s.name);
    const facts = [`${s.status}`, `mode ${s.mode}`, `admission ${s.admission}`, `${when(s.start_time)} to ${when(s.end_time)}`,
      `${s.reservation_ttl_seconds} s to pay`];
    if (s.lottery) facts.push(`entries ${when(s.lottery.entries_open)} to ${when(s.lottery.entries_close)}`);
    if (s.waiting_room) facts.push(`waiting room at ${s.waiting_room.admit_per_minute}/min`);
    if (s.challenge) facts.push(`challenge ${s.challenge.policy}`);
    if (s.limits) facts.push('purchase limits: ' + Object.entries(s.limits).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', '));
    const page = el('a', { href: '/sales/' + encodeURIComponent(s.sale_id) }, 'the shopper\'s page');
    $('sale-facts').replaceChildren(facts.join(' · ') + ' · ', page);
    $('queue-panel').hidden = !s.waiting_room;
    const route = s.mode === 'lottery' ? 'enter_lottery' : 'place_order';
    w.route = route;
    setText($('rps-title'), `Requests per second by status (${route})`);
    showControls(w, s);
  }

  // tick reads the sale's figures, then comes back TICK_MS later, for as
  // long as the view is open; a hidden tab asks for nothing.
  async function tick(w) {
    if (state.watching !== w) return;
    if (document.visibilityState !== 'hidden' && w.sale) {
      const id = encodeURIComponent(w.id);
      const now = Date.now();
      const jobs = [call('GET', `/admin/flash-sales/${id}/stats`), call('GET', '/metrics')];
      if (w.sale.waiting_room) jobs.push(call('GET', `/admin/flash-sales/${id}/queue`));
      if (w.ticks % 5 === 0) jobs.push(call('GET', `/admin/flash-sales/${id}/fairness`).then((r) => ({ fairness: r })));
      if (w.ticks % 15 === 14) jobs.push(loadSale(w), loadAudit(w));
      const [stats, metrics, ...rest] = await Promise.all(jobs);
      if (state.watching !== w) return;
      const dt = w.at ? (now - w.at) / 1000 : 0;
      w.at = now;
      if (stats.status === 200) showStats(w, stats.body, now, dt);
      else message(errorText(stats));
      showMetrics(w, metrics, now, dt);
      for (const r of rest) {
        if (r && r.fairness) showFairness(r.fairness);
        else if (r && r.status !== undefined) showQueue(w, r, now);
      }
      setText($('updated'), `Updated ${new Date(now).toLocaleTimeString()}, every ${TICK_MS / 1000} s.`);
      w.ticks++;
    }
    w.timer = setTimeout(() => tick(w), TICK_MS);
  }

  function itemName(w, itemID) {
    const it = w.sale && w.sale.items.find((i) => i.item_id === itemID);
    return it ? it.name : itemID;
  }

  const STOCK = [['available', 'Available'], ['reserved', 'Reserved'], ['sold', 'Sold']];

  function showStats(w, stats, now, dt) {
    const box = $('stock');
    for (const it of stats.items) {
      let view = w.stock[it.item_id];
      if (!view) {
        view = w.stock[it.item_id] = { history: new C.History(), box: el('div', { class: 'item-stock', 'data-item': it.item_id }) };
        box.append(view.box);
      }
      view.history.add(now, { available: it.available, reserved: it.reserved, sold: it.sold });
      const name = itemName(w, it.item_id);
      const table = el('table', {},
        el('thead', {}, el('tr', {}, ...['Total', 'Available', 'Reserved', 'Sold', 'Attempts'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, el('tr', {}, ...[it.total, it.available, it.reserved, it.sold, it.attempts].map((v, i) =>
          el('td', { class: ['total', 'available', 'reserved', 'sold', 'attempts'][i] }, String(v))))));
      view.box.replaceChildren(el('h3', {}, name),
        chart(`Units of ${name} over time`, STOCK, view.history, now, it.total),
        el('div', { class: 'scroll' }, table));
    }
    // Refusals: this sale's, summed over its items.
    const totals = {};
    for (const it of stats.items) for (const [reason, n] of Object.entries(it.rejections || {})) totals[reason] = (totals[reason] || 0) + n;
    const perSecond = dt ? C.rates(w.rejections, totals, dt) : {};
    w.rejections = totals;
    const reasons = Object.keys(totals).sort((a, b) => totals[b] - totals[a]);
    $('rejections').replaceChildren(...(reasons.length ? reasons.map((r) => el('tr', {}, el('th', { scope: 'row' }, r),
      el('td', {}, String(totals[r])), el('td', {}, (perSecond[r] || 0).toFixed(1))))
      : [el('tr', {}, el('td', { colspan: '3' }, 'None yet.'))]));
  }

  function showMetrics(w, r, now, dt) {
    if (r.status !== 200 || typeof r.body !== 'string') {
      $('rps').replaceChildren(el('p', {}, r.status === 404
        ? 'This instance serves its metrics on another listener (FLASHSALE_METRICS_ADDR): no rates here.'
        : 'The metrics could not be read.'));
      return;
    }
    const counters = C.sumBy(C.parseMetrics(r.body), 'flashsale_http_requests_total', { route: w.route }, 'code');
    if (w.counters && dt) {
      const perSecond = C.rates(w.counters, counters, dt);
      // Every status seen so far keeps its line, at 0 when quiet.
      for (const code of Object.keys(w.rps.series)) if (!(code in perSecond)) perSecond[code] = 0;
      w.rps.add(now, perSecond);
    }
    w.counters = counters;
    const codes = Object.keys(w.rps.series).sort();
    if (!codes.length) {
      $('rps').replaceChildren(el('p', {}, 'No requests yet.'));
      return;
    }
    const series = codes.map((c) => [c, c]);
    const rows = codes.map((c) => el('tr', {}, el('th', { scope: 'row' }, c), el('td', {}, (w.rps.last(c) || 0).toFixed(1))));
    $('rps').replaceChildren(chart('Requests per second by HTTP status', series, w.rps, now),
      el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Status'),
        el('th', { scope: 'col' }, 'Per second now'))), el('tbody', {}, ...rows))));
  }

  const QUEUE = [['waiting', 'Waiting'], ['pre_queue', 'Pre-queue'], ['admitted_total', 'Admitted in all'], ['active', 'Admitted now'],
    ['abandoned', 'Abandoned'], ['admit_per_minute', 'Admitted a minute'], ['max_active', 'Most at once']];

  function showQueue(w, r, now) {
    if (r.status !== 200) return setText($('dial-status'), errorText(r));
    const q = r.body;
    w.queueFigures = q;
    $('queue-figures').replaceChildren(...QUEUE.map(([k, label]) => el('div', {}, el('dt', {}, label),
      el('dd', { 'data-figure': k }, k === 'max_active' && !q[k] ? 'no cap' : String(q[k])))),
    el('div', {}, el('dt', {}, 'Admission'), el('dd', { 'data-figure': 'paused' }, q.sold_out ? 'sold out' : q.paused ? 'paused' : 'running')));
    setText($('pause'), q.paused ? 'Resume admission' : 'Pause admission');
    for (const [id, k] of [['d-rate', 'admit_per_minute'], ['d-max', 'max_active']]) {
      if (document.activeElement !== $(id) && !$(id).dataset.edited) $(id).value = q[k];
    }
    w.queue.add(now, { waiting: q.waiting, active: q.active });
    $('queue-chart').replaceChildren(chart('Shoppers in the waiting room over time', [['waiting', 'Waiting'], ['active', 'Admitted now']], w.queue, now));
  }

  async function adjustQueue(change) {
    const w = state.watching;
    if (!w) return;
    const form = $('dial');
    clearErrors(form);
    setText($('dial-status'), 'Changing…');
    const r = await call('PATCH', `/admin/flash-sales/${encodeURIComponent(w.id)}/queue`, change);
    if (r.status === 200) {
      for (const input of form.querySelectorAll('input')) delete input.dataset.edited;
      setText($('dial-status'), r.body.paused ? 'Admission is paused.' : `Admitting ${r.body.admit_per_minute} a minute` +
        (r.body.max_active ? `, at most ${r.body.max_active} at once.` : ', no cap.'));
      showQueue(w, r, Date.now());
      return;
    }
    const err = r.body && r.body.error;
    if (err && err.field) showFieldError(form, err.field, err.message);
    setText($('dial-status'), 'Not changed: ' + errorText(r));
  }

  function showFairness(r) {
    if (r.status !== 200) return;
    const f = r.body;
    $('fairness').replaceChildren(...[['challenged', 'Challenges asked'], ['solved', 'Solved'], ['failed', 'Failed solutions'], ['early', 'Sent before their time']]
      .map(([k, label]) => el('div', {}, el('dt', {}, label), el('dd', {}, String(f[k])))));
    $('devices').replaceChildren(...(f.shared_devices.length
      ? f.shared_devices.map((d) => el('li', {}, el('code', {}, d.device), `: ${d.accounts} accounts`))
      : [el('li', {}, 'None.')]));
  }

  async function reconcile() {
    const w = state.watching;
    if (!w) return;
    const button = $('reconcile');
    button.disabled = true;
    const out = $('reconcile-report');
    out.replaceChildren(el('p', {}, 'Reconciling…'));
    try {
      const r = await call('POST', `/admin/flash-sales/${encodeURIComponent(w.id)}/reconcile`);
      if (r.status !== 200) return out.replaceChildren(el('p', {}, 'Reconcile failed: ' + errorText(r)));
      const rows = C.reconcileRows(r.body).map((row) => el('tr', {}, el('th', { scope: 'row' }, itemName(w, row.item_id)),
        el('td', {}, row.before), el('td', {}, row.store), el('td', {}, row.after), el('td', {}, String(row.repaired)),
        el('td', {}, String(row.missing)), el('td', { class: 'consistent' }, row.consistent ? 'yes' : 'NO')));
      const all = C.reconcileRows(r.body).every((row) => row.consistent);
      out.replaceChildren(
        el('p', { id: 'reconcile-summary' }, `Checked at ${when(r.body.checked_at)}: ${all ? 'consistent' : 'NOT consistent'}` +
          (r.body.rebuild_requested ? '; a rebuild of the inventory was requested (sales pause meanwhile).' : '.')),
        el('div', { class: 'scroll' }, el('table', {},
          el('caption', {}, 'Units available / reserved / sold of the total, per item'),
          el('thead', {}, el('tr', {}, ...['Item', 'Inventory before', 'Orders say', 'Inventory after', 'Repaired orders', 'Missing orders', 'Consistent']
            .map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, ...rows))),
        el('details', {}, el('summary', {}, 'The whole report'), el('pre', {}, JSON.stringify(r.body, null, 2))));
    } finally {
      button.disabled = false;
    }
  }

  // --- operating the sale ---------------------------------------------

  // showControls sets the controls to the sale as it stands: the pause
  // toggle, the end (unless the operator is editing it) and a restock
  // form per item.
  function showControls(w, s) {
    const standing = s.status === 'ended' ? 'ended' : s.paused ? 'paused' : s.status === 'active' ? 'selling' : s.status;
    setText($('op-state'), standing);
    $('op-state').dataset.state = standing;
    setText($('op-pause'), s.paused ? 'Resume the sale' : 'Pause the sale');
    w.clock = Date.parse(s.server_time) - Date.now();
    if (w.shownEnd !== s.end_time) {
      w.shownEnd = s.end_time;
      $('op-end-time').value = C.isoToLocal(Date.parse(s.end_time));
    }
    const key = s.items.map((it) => it.item_id).join(' ');
    if (w.restockKey === key) return;
    w.restockKey = key;
    $('op-restock').replaceChildren(...s.items.map((it, i) => {
      const id = `op-add-${i}`;
      const status = el('p', { role: 'status', 'aria-live': 'polite' });
      const form = el('form', { class: 'restock', novalidate: '', 'data-item': it.item_id },
        el('div', { class: 'field' }, el('label', { for: id }, `Units to add to ${it.name}`),
          el('input', { id, name: 'items[0].add_quantity', inputmode: 'numeric' })),
        el('p', { class: 'actions' }, el('button', { type: 'submit' }, `Restock ${it.name}`)), status);
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        changeSale(C.restockBody(it.item_id, form.elements[0].value), form, status, (sale) => {
          form.elements[0].value = '';
          const now = sale.items.find((x) => x.item_id === it.item_id);
          return `Restocked: ${now ? now.total_quantity : '?'} units in all.`;
        });
      });
      return form;
    }));
  }

  // changeSale PATCHes the sale and shows the answer: done's words and the
  // sale as it now is, or the API's error at the field it names (in form)
  // and in words in status.
  async function changeSale(change, form, status, done) {
    const w = state.watching;
    if (!w) return;
    if (form) clearErrors(form);
    setText(status, 'Changing…');
    const r = await call('PATCH', `/admin/flash-sales/${encodeURIComponent(w.id)}`, change);
    if (state.watching !== w) return;
    if (r.status === 200) {
      w.saleSeq = (w.saleSeq || 0) + 1;
      showSale(w, r.body);
      setText(status, done(r.body));
      loadAudit(w);
      return;
    }
    const err = r.body && r.body.error;
    if (form && err && err.field) showFieldError(form, err.field, err.message);
    setText(status, 'Not changed: ' + errorText(r));
  }

  function endNow() {
    const w = state.watching;
    $('op-end-confirm').hidden = true;
    $('op-end').focus();
    // Now on the server's clock: an end in the past ends the sale at once.
    const end = new Date(Date.now() + ((w && w.clock) || 0)).toISOString();
    changeSale({ end_time: end }, null, $('op-run-status'), () => 'The sale has ended.');
  }

  // loadOrders shows the first page of the sale's orders in the chosen
  // status, or (more) the page after those shown.
  async function loadOrders(w, more) {
    const form = $('orders-filter');
    const seq = w.ordersSeq = (w.ordersSeq || 0) + 1;
    clearErrors(form);
    const q = C.ordersQuery({ status: $('o-status').value, cursor: more ? w.ordersCursor : '', limit: 50 });
    const r = await call('GET', `/admin/flash-sales/${encodeURIComponent(w.id)}/orders${q}`);
    if (state.watching !== w || w.ordersSeq !== seq) return;
    if (r.status !== 200) {
      const err = r.body && r.body.error;
      if (err && err.field) showFieldError(form, err.field, err.message);
      return setText($('orders-status'), 'The orders could not be read: ' + errorText(r));
    }
    const rows = r.body.orders.map((o) => orderRow(w, o));
    if (more) $('orders').append(...rows);
    else $('orders').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '7' }, 'No orders.'))]));
    w.ordersCursor = r.body.next_cursor || '';
    $('orders-more').hidden = !w.ordersCursor;
    const shown = $('orders').querySelectorAll('tr[data-order]').length;
    setText($('orders-status'), `${shown} order${shown === 1 ? '' : 's'} shown${w.ordersCursor ? ', more to read' : ''}.`);
  }

  function orderRow(w, o) {
    const short = C.shortID(o.order_id);
    const hidden = el('span', { class: 'sr-only' }, ` order ${short}`);
    let refund = '';
    if (o.status === 'confirmed') {
      const id = `restock-${o.order_id}`;
      refund = el('div', { class: 'refund' },
        el('span', { class: 'field check' }, el('input', { id, type: 'checkbox' }), el('label', { for: id }, 'restock', hidden.cloneNode(true))),
        el('button', { type: 'button', class: 'secondary', 'data-refund': o.order_id }, 'Refund', hidden));
    }
    return el('tr', { 'data-order': o.order_id },
      el('td', {}, el('code', { class: 'id', title: o.order_id }, short)), el('td', {}, o.user_id || '–'), el('td', {}, itemName(w, o.item_id)),
      el('td', {}, String(o.quantity)), el('td', { 'data-status': o.status }, o.status),
      el('td', {}, `${o.total_amount} ${o.currency}`), el('td', {}, refund));
  }

  async function refund(button) {
    const w = state.watching;
    const row = button.closest('tr');
    const id = row.dataset.order;
    const restock = row.querySelector('input[type="checkbox"]').checked;
    for (const e of row.querySelectorAll('.field-error')) e.remove();
    button.disabled = true;
    setText($('orders-status'), `Refunding order ${C.shortID(id)}…`);
    const r = await call('POST', `/admin/orders/${encodeURIComponent(id)}/refund`, { restock });
    if (state.watching !== w) return;
    if (r.status === 200) {
      row.replaceWith(orderRow(w, r.body));
      setText($('orders-status'), `Order ${C.shortID(id)} refunded` + (restock ? `, ${r.body.quantity} unit(s) back on sale.` : '.'));
      loadAudit(w);
      return;
    }
    button.disabled = false;
    button.closest('.refund').append(el('p', { class: 'field-error' }, errorText(r)));
    setText($('orders-status'), `Order ${C.shortID(id)} was not refunded: ${errorText(r)}`);
  }

  // downloadCSV fetches the export with the token in its header (never in
  // a URL) and saves it from a Blob.
  async function downloadCSV() {
    const w = state.watching;
    if (!w) return;
    const button = $('orders-csv');
    button.disabled = true;
    setText($('orders-status'), 'Exporting…');
    try {
      const r = await call('GET', `/admin/flash-sales/${encodeURIComponent(w.id)}/orders${C.ordersQuery({ status: $('o-status').value })}`,
        undefined, 'text/csv');
      if (r.status !== 200 || typeof r.body !== 'string') return setText($('orders-status'), 'The export failed: ' + errorText(r));
      const name = `orders-${w.id}.csv`;
      const url = URL.createObjectURL(new Blob([r.body], { type: 'text/csv' }));
      const a = el('a', { href: url, download: name, hidden: '' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      const n = Math.max(C.csvRecords(r.body) - 1, 0);
      setText($('orders-status'), `Saved ${name}: ${n} order${n === 1 ? '' : 's'}.`);
    } finally {
      button.disabled = false;
    }
  }

  async function loadAudit(w) {
    const r = await call('GET', '/admin/audit?sale_id=' + encodeURIComponent(w.id));
    if (state.watching !== w) return;
    if (r.status !== 200) {
      return setText($('audit-status'), r.status === 404 ? 'This deployment keeps no audit log.' : 'The audit log could not be read: ' + errorText(r));
    }
    const entries = r.body.entries || [];
    $('audit').replaceChildren(...entries.map((e) => el('li', { 'data-action': e.action }, el('time', { datetime: e.at }, when(e.at)),
      ' · ', el('strong', {}, e.admin), ` · ${e.action}: ${C.auditSummary(e, when)}`)));
    const last = entries[0];
    setText($('audit-status'), last ? `${entries.length} action${entries.length === 1 ? '' : 's'}, newest first; the latest: ${last.action} by ${last.admin}.`
      : 'No admin action yet.');
  }

  // --- charts ----------------------------------------------------------

  // chart draws series ([key, label] pairs of a History) as lines over
  // the last minutes, in an SVG with a text alternative and a legend
  // that tells the lines apart by dash as well as colour. top is the
  // least value the axis reaches (an item's total, say).
  function chart(title, series, history, now, top = 0) {
    const W = 600; const H = 180; const left = 44; const bottom = 20; const pw = W - left - 8; const ph = H - bottom - 8;
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    const svgEl = (attrs) => {
      const e = document.createElementNS(ns, attrs.tag);
      for (const [k, v] of Object.entries(attrs)) if (k !== 'tag') e.setAttribute(k, v);
      return e;
    };
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('class', 'chart');
    svg.setAttribute('role', 'img');
    const latest = series.map(([k, label]) => `${label} ${fmt(history.last(k))}`).join(', ');
    svg.setAttribute('aria-label', `${title}. Now: ${latest}.`);
    const scale = C.niceScale(Math.max(history.max(), top));
    // From the first reading on (the window's worth at most), ten
    // seconds at least: a new view fills its chart at once.
    let t0 = now;
    for (const points of Object.values(history.series)) if (points.length) t0 = Math.min(t0, points[0][0]);
    t0 = Math.min(t0, now - 10000);
    const plot = svgEl({ tag: 'g', transform: `translate(${left} 8)` });
    for (const v of scale.ticks) {
      const y = ph - (v / scale.max) * ph;
      plot.append(svgEl({ tag: 'line', x1: 0, x2: pw, y1: y, y2: y, class: 'grid-line' }));
      const label = svgEl({ tag: 'text', x: -6, y: y + 4, 'text-anchor': 'end' });
      label.textContent = fmt(v);
      plot.append(label);
    }
    for (const [x, text, anchor] of [[0, `−${Math.round((now - t0) / 1000)} s`, 'start'], [pw, 'now', 'end']]) {
      const label = svgEl({ tag: 'text', x, y: ph + 16, 'text-anchor': anchor });
      label.textContent = text;
      plot.append(label);
    }
    series.forEach(([k], i) => {
      const d = C.linePath(history.series[k] || [], t0, now, scale.max, pw, ph);
      if (d) plot.append(svgEl({ tag: 'path', d, fill: 'none', stroke: COLOURS[i % COLOURS.length], 'stroke-width': 2.5, 'stroke-dasharray': DASHES[i % DASHES.length] }));
    });
    svg.append(plot);
    const legend = el('ul', { class: 'legend' }, ...series.map(([k, label], i) => {
      const sample = document.createElementNS(ns, 'svg');
      sample.setAttribute('width', 28);
      sample.setAttribute('height', 10);
      sample.setAttribute('aria-hidden', 'true');
      sample.append(svgEl({ tag: 'line', x1: 0, x2: 28, y1: 5, y2: 5, stroke: COLOURS[i % COLOURS.length], 'stroke-width': 3, 'stroke-dasharray': DASHES[i % DASHES.length] }));
      return el('li', {}, sample, `${label}: ${fmt(history.last(k))}`);
    }));
    return el('figure', {}, svg, el('figcaption', {}, legend));
  }

  function fmt(v) {
    if (v === undefined) return '–';
    return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }

  // --- start -----------------------------------------------------------

  function route() {
    const m = location.hash.match(/^#sale\/(.+)$/);
    $('home-view').hidden = !!m;
    $('sale-view').hidden = !m;
    if (!state.token) {
      stopWatching();
      return message('Sign in with an admin token to use the console.');
    }
    if (m) return watch(decodeURIComponent(m[1]));
    stopWatching();
    document.title = 'Flash sale console';
    loadSales();
  }

  $('signin').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('token').value.trim();
    $('token').value = '';
    sessionStorage.setItem('flashsale.admin', state.token);
    message('');
    renderWho();
    route();
  });
  $('signout').addEventListener('click', () => {
    signOut();
    route();
  });
  $('reload').addEventListener('click', loadSales);
  $('add-item').addEventListener('click', () => {
    addItem();
    $('items').lastElementChild.querySelector('input').focus();
  });
  $('f-mode').addEventListener('change', () => { $('lottery-fields').hidden = $('f-mode').value !== 'lottery'; });
  $('f-wr').addEventListener('change', () => { $('wr-fields').hidden = !$('f-wr').checked; });
  $('create').addEventListener('submit', createSale);
  $('dial').addEventListener('input', (e) => { e.target.dataset.edited = '1'; });
  $('dial').addEventListener('submit', (e) => {
    e.preventDefault();
    const change = {};
    for (const [id, k] of [['d-rate', 'admit_per_minute'], ['d-max', 'max_active']]) {
      const s = $(id).value.trim();
      if (s !== '') change[k] = Number.isFinite(Number(s)) ? Number(s) : s;
    }
    adjustQueue(change);
  });
  $('pause').addEventListener('click', () => {
    const q = state.watching && state.watching.queueFigures;
    adjustQueue({ paused: !(q && q.paused) });
  });
  $('reconcile').addEventListener('click', reconcile);
  $('op-pause').addEventListener('click', () => {
    const paused = !(state.watching && state.watching.sale && state.watching.sale.paused);
    changeSale({ paused }, null, $('op-run-status'), () => (paused ? 'Paused: orders are refused, reservations kept.' : 'Resumed.'));
  });
  $('op-end').addEventListener('click', () => {
    $('op-end-confirm').hidden = false;
    $('op-end-yes').focus();
  });
  $('op-end-yes').addEventListener('click', endNow);
  $('op-end-no').addEventListener('click', () => {
    $('op-end-confirm').hidden = true;
    $('op-end').focus();
  });
  $('op-extend').addEventListener('submit', (e) => {
    e.preventDefault();
    changeSale({ end_time: C.localToISO($('op-end-time').value) }, $('op-extend'), $('op-extend-status'),
      (s) => `The sale ends ${when(s.end_time)}.`);
  });
  $('orders-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    if (state.watching) loadOrders(state.watching, false);
  });
  $('o-status').addEventListener('change', () => state.watching && loadOrders(state.watching, false));
  $('orders-more').addEventListener('click', () => state.watching && loadOrders(state.watching, true));
  $('orders-csv').addEventListener('click', downloadCSV);
  $('orders').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-refund]');
    if (button) refund(button);
  });
  window.addEventListener('hashchange', route);
  prefill();
  renderWho();
  route();
})();
