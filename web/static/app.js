// The shopper's page: the sale list at /, a sale at /sales/{sale_id}.
// It speaks only the public API (docs/API.md); FlashLogic (logic.js) holds
// the parts that are tested without a browser.
(function () {
  'use strict';
  const L = window.FlashLogic;
  const $ = (id) => document.getElementById(id);
  const clock = new L.ServerClock();
  const serverNow = () => clock.now(performance.now());
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const MAX_BUSY_RETRIES = 6;

  const state = {
    token: sessionStorage.getItem('flashsale.token') || '',
    sale: null,
    order: null, // the shopper's order in this sale, as last known
    busy: false, // a buy is under way
    retryAt: 0, // a 429 asked to wait until this server time
    joining: false,
    ticket: null, // the waiting room's ticket
    queueOpensAt: 0,
    stream: null,
    events: new L.EventLog(),
    entries: {}, // a lottery's entries of this shopper, by item id
    solutions: {}, // a solved challenge not yet used, by sale id
    draw: null, // a lottery's published draw document
  };

  // --- the API -------------------------------------------------------

  // call sends one request and reads its JSON answer; status 0 is a
  // network failure. It samples the server clock from server_time.
  async function call(method, path, { body, headers = {} } = {}) {
    const h = Object.assign({ Accept: 'application/json' }, headers);
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (state.token) h.Authorization = 'Bearer ' + state.token;
    const sent = performance.now();
    let res;
    try {
      res = await fetch(path, { method, headers: h, cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      return { status: 0, body: null, retryAfter: 0 };
    }
    const received = performance.now();
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (data && data.server_time) clock.sample(data.server_time, sent, received);
    if (res.status === 401) signOut('Your token was refused (invalid or expired): paste another.');
    return { status: res.status, body: data, retryAfter: L.retryAfterMs(res.headers.get('Retry-After'), data) };
  }

  // patiently repeats a request while the service is busy: after the wait
  // it asks, doubled per attempt and spread at random, telling the shopper
  // how long; after MAX_BUSY_RETRIES it gives the answer back.
  async function patiently(what, send, note) {
    for (let attempt = 0; ; attempt++) {
      const r = await send();
      if (!L.retryable(r.status, r.body) || attempt >= MAX_BUSY_RETRIES) return r;
      const delay = L.backoffDelay(attempt, r.retryAfter);
      const until = performance.now() + delay;
      while (performance.now() < until) {
        note(`The shop is busy; ${what} again in ${Math.ceil((until - performance.now()) / 1000)} s (try ${attempt + 2} of ${MAX_BUSY_RETRIES + 1}).`);
        await sleep(Math.min(250, until - performance.now()));
      }
      note(`${what[0].toUpperCase()}${what.slice(1)}…`);
    }
  }

  // setText changes an element's text only when it differs, so that the
  // quarter-second render disturbs neither screen readers nor selections.
  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function message(text) {
    setText($('message'), text || '');
  }

  function errorText(r) {
    if (r.status === 0) return 'The shop cannot be reached. Check your connection and try again.';
    if (r.status === 503) return 'The shop is still too busy. Try again in a moment.';
    return (r.body && r.body.error && r.body.error.message) || `Unexpected answer (${r.status}).`;
  }

  // --- sign-in ---------------------------------------------------------

  function renderWho() {
    const claims = state.token ? L.tokenClaims(state.token) : null;
    $('signin').hidden = !!state.token;
    $('who').hidden = !state.token;
    $('who-name').textContent = claims && claims.sub ? claims.sub : 'token holder';
  }

  function signIn(token) {
    state.token = token.trim();
    sessionStorage.setItem('flashsale.token', state.token);
    renderWho();
    if (state.sale) {
      openStream();
      if (state.sale.waiting_room) refreshTicket();
      if (state.sale.mode === 'lottery') refreshEntries();
    }
    render();
  }

  // demoSignIn asks a 'serve --demo' for a shopper's token of a name of
  // its own: the page offers it only when the service says it is a demo.
  async function demoSignIn() {
    const button = $('demo-signin');
    button.disabled = true;
    try {
      const user = 'shopper-' + L.uuid().slice(0, 6);
      const r = await patiently('signing in', () => call('POST', '/demo/token', { body: { user } }), message);
      if (r.status === 200 && r.body && r.body.token) {
        message('');
        signIn(r.body.token);
      } else message(errorText(r));
    } finally {
      button.disabled = false;
    }
  }

  function signOut(why) {
    state.token = '';
    state.entries = {};
    sessionStorage.removeItem('flashsale.token');
    closeStream();
    renderWho();
    message(why || 'Signed out.');
    render();
  }

  // --- the sale list ---------------------------------------------------

  async function showList() {
    $('list-view').hidden = false;
    const r = await patiently('loading the sales', () => call('GET', '/flash-sales'), message);
    if (r.status !== 200) return message(errorText(r));
    message('');
    const list = $('sales');
    list.replaceChildren();
    for (const sale of r.body.sales) {
      const li = document.createElement('li');
      const h = document.createElement('h2');
      const a = document.createElement('a');
      a.href = '/sales/' + encodeURIComponent(sale.sale_id);
      a.textContent = sale.name;
      h.append(a);
      const p = document.createElement('p');
      const start = Date.parse(sale.start_time);
      const end = Date.parse(sale.end_time);
      const now = serverNow();
      p.textContent = now < start ? `Starts ${new Date(start).toLocaleString()} (in ${L.formatDuration(start - now)})`
        : now < end ? `On now, until ${new Date(end).toLocaleString()}` : 'Ended';
      const items = document.createElement('p');
      items.textContent = sale.items.map((it) => `${it.name}: ${it.sale_price} ${it.currency} (−${it.discount_percent} %)` +
        (it.sold_out ? ', sold out' : '')).join('; ');
      li.append(h, p, items);
      list.append(li);
    }
    $('no-sales').hidden = r.body.sales.length > 0;
  }

  // --- the sale --------------------------------------------------------

  async function loadSale(id) {
    const r = await patiently('loading the sale', () => call('GET', '/flash-sales/' + encodeURIComponent(id)), message);
    if (r.status !== 200) {
      if (!state.sale) $('sale-name').textContent = r.status === 404 ? 'No such sale' : 'The sale could not be loaded';
      message(errorText(r));
      return false;
    }
    const known = state.sale;
    state.sale = r.body;
    // A sold-out answer seen here is not undone by a sale page up to a
    // second or two stale; units that come back later (a reservation
    // expired or cancelled) are shown again.
    if (known) {
      for (const it of state.sale.items) {
        const was = known.items.find((k) => k.item_id === it.item_id);
        if (was && was.soldOutSeen && performance.now() - was.soldOutSeen < 3000) {
          it.sold_out = true;
          it.remaining_quantity = 0;
          it.soldOutSeen = was.soldOutSeen;
        }
        // Likewise the units this tab just reserved are not given back by
        // a page read before the reservation.
        if (was && was.takenSeen && performance.now() - was.takenSeen < 3000) {
          it.remaining_quantity = Math.min(it.remaining_quantity, was.remaining_quantity);
          it.takenSeen = was.takenSeen;
        }
      }
    }
    return true;
  }

  async function showSale(id) {
    $('sale-view').hidden = false;
    if (!(await loadSale(id))) return;
    const sale = state.sale;
    document.title = sale.name + ' · Flash sale';
    $('sale-name').textContent = sale.name;
    buildItems();
    $('queue').hidden = !sale.waiting_room;
    $('entry-card-row').hidden = !countsCards() || !(sale.waiting_room || sale.mode === 'lottery');
    if (sale.waiting_room && sale.waiting_room.pre_queue_seconds > 0) {
      $('draw-link').href = `/flash-sales/${encodeURIComponent(sale.sale_id)}/queue/draw`;
      $('draw').hidden = false;
    }
    // The order this tab made in the sale, after a reload.
    const saved = sessionStorage.getItem('flashsale.order.' + sale.sale_id);
    if (saved && state.token) {
      const r = await call('GET', '/orders/' + encodeURIComponent(saved));
      if (r.status === 200) state.order = r.body;
    }
    if (state.token) {
      openStream();
      if (sale.waiting_room) refreshTicket();
    }
    if (sale.mode === 'lottery') showLottery();
    renderLoop();
    scheduleRefresh();
  }

  // renderLoop renders now and again a tick later, or at the next moment
  // that brings a button to life or takes it away.
  function renderLoop() {
    render();
    setTimeout(renderLoop, L.renderDelay(serverNow(), L.pageMoments(state.sale, state.retryAt, state.queueOpensAt)));
  }

  // scheduleRefresh reads the sale again for its stock and to keep the
  // clock: at the start (spread over a second, for the crowd's sake),
  // then every 5 to 10 s while it is on, every 20 to 40 s once sold out
  // (units come back when reservations expire).
  function scheduleRefresh() {
    const sale = state.sale;
    const now = serverNow();
    const start = Date.parse(sale.start_time);
    const end = Date.parse(sale.end_time);
    if (now >= end) return;
    const soldOut = sale.items.every((it) => it.sold_out);
    let wait = (soldOut ? 20000 : 5000) * (1 + Math.random());
    if (now < start) wait = Math.min(start - now + Math.random() * 1000, 60000 + Math.random() * 5000);
    setTimeout(async () => {
      if (document.visibilityState !== 'hidden') await loadSale(sale.sale_id);
      render();
      scheduleRefresh();
    }, wait);
  }

  function buildItems() {
    const list = $('items');
    list.replaceChildren();
    for (const it of state.sale.items) {
      const li = $('item-template').content.firstElementChild.cloneNode(true);
      li.dataset.item = it.item_id;
      li.querySelector('.item-name').textContent = it.name;
      li.querySelector('.sale-price').textContent = `${it.sale_price} ${it.currency}`;
      const orig = li.querySelector('.original-price');
      orig.textContent = `${it.original_price} ${it.currency}`;
      orig.setAttribute('aria-label', `was ${it.original_price} ${it.currency}`);
      li.querySelector('.discount').textContent = `${it.discount_percent} % off`;
      li.querySelector('.limit').textContent = `At most ${it.per_user_limit} per shopper.`;
      li.querySelector('.buy').addEventListener('click', () => (state.sale.mode === 'lottery' ? enter(it.item_id) : buy(it.item_id)));
      list.append(li);
    }
  }

  function phase() {
    const now = serverNow();
    if (now < Date.parse(state.sale.start_time)) return 'upcoming';
    if (now < Date.parse(state.sale.end_time)) return 'active';
    return 'ended';
  }

  // render brings the page up to date with the state and the clock.
  function render() {
    const sale = state.sale;
    if (!sale) return;
    const now = serverNow();
    const p = phase();
    const was = $('sale-view').dataset.phase;
    $('sale-view').dataset.phase = p;
    if (was === 'upcoming' && p === 'active' && sale.mode !== 'lottery') message('The sale has started.');
    if (was === 'active' && p === 'ended') message('The sale has ended.');
    if (sale.mode === 'lottery') {
      renderLottery(now);
    } else if (p === 'upcoming') {
      setText($('sale-state'), 'Starts in');
      setText($('countdown'), L.formatDuration(Date.parse(sale.start_time) - now));
    } else if (p === 'active') {
      setText($('sale-state'), sale.paused ? 'Paused by the shop. Ends in' : 'On now. Ends in');
      setText($('countdown'), L.formatDuration(Date.parse(sale.end_time) - now));
    } else {
      setText($('sale-state'), 'This sale has ended.');
      setText($('countdown'), '');
    }
    const live = state.order && ['reserved', 'paying'].includes(state.order.status);
    const admitted = !sale.waiting_room || (state.ticket && state.ticket.status === 'admitted');
    for (const it of sale.items) {
      const li = document.querySelector(`#items li[data-item="${CSS.escape(it.item_id)}"]`);
      if (!li || sale.mode === 'lottery') continue;
      li.classList.toggle('sold-out', it.sold_out);
      li.dataset.soldOut = it.sold_out;
      setText(li.querySelector('.stock'), it.sold_out ? 'Sold out' : `${it.remaining_quantity} of ${it.total_quantity} left`);
      const button = li.querySelector('.buy');
      const waitMore = state.retryAt - now;
      const mine = state.order && state.order.item_id === it.item_id;
      const bought = mine && state.order.status === 'confirmed' && (state.order.quantity || 1) >= it.per_user_limit;
      let label = 'Buy';
      if (bought) label = 'Bought';
      else if (it.sold_out) label = 'Sold out';
      else if (live && mine) label = 'Reserved for you';
      else if (waitMore > 0) label = `Retry in ${Math.ceil(waitMore / 1000)} s`;
      else if (p === 'upcoming') label = 'Buy (not yet)';
      else if (sale.paused) label = 'Paused';
      else if (!admitted) label = 'Buy (wait for your turn)';
      setText(button, label);
      button.disabled = bought || it.sold_out || p !== 'active' || sale.paused || state.busy || live || waitMore > 0 || !admitted;
    }
    renderOrder(now);
    renderTicket(now);
  }

  // --- buying ----------------------------------------------------------

  function itemNote(itemID, text) {
    const li = document.querySelector(`#items li[data-item="${CSS.escape(itemID)}"]`);
    if (li) li.querySelector('.item-note').textContent = text || '';
  }

  // markSoldOut shows an item sold out at once (every item without one).
  function markSoldOut(itemID) {
    for (const it of state.sale.items) {
      if (itemID == null || it.item_id === itemID) {
        it.sold_out = true;
        it.remaining_quantity = 0;
        it.soldOutSeen = performance.now();
      }
    }
  }

  function deviceID() {
    let id = localStorage.getItem('flashsale.device');
    if (!id) {
      id = L.uuid();
      localStorage.setItem('flashsale.device', id);
    }
    return id;
  }

  async function buy(itemID) {
    if (!state.token) {
      message('Sign in first: paste your access token above.');
      $('token').focus();
      return;
    }
    message('');
    state.busy = true;
    render();
    const note = (text) => itemNote(itemID, text);
    try {
      await placeOrder(itemID, note);
    } finally {
      state.busy = false;
      render();
    }
  }

  async function placeOrder(itemID, note) {
    const sale = state.sale;
    const key = L.uuid(); // one press: its retries take at most one unit
    // A solution an earlier press carried to a sold-out or paused answer
    // was (most likely) never looked at: it goes with this press, and
    // spares the shopper the challenge their account still owes.
    let solution = state.solutions[sale.sale_id] || '';
    note('Reserving…');
    for (;;) {
      const headers = { 'Idempotency-Key': key, 'Flashsale-Device': deviceID() };
      if (state.ticket && state.ticket.admission_token) headers['Flashsale-Admission'] = state.ticket.admission_token;
      if (solution) headers['Flashsale-Challenge'] = solution;
      let r = await patiently('reserving', () => call('POST', `/flash-sales/${encodeURIComponent(sale.sale_id)}/orders`,
        { body: { item_id: itemID, quantity: 1 }, headers }), note);
      state.solutions[sale.sale_id] = L.solutionUnspent(r.status, r.body) ? solution : '';
      solution = '';
      if (r.status === 202) r = await followRequest(r, note);
      const code = L.errorCode(r.body);
      if (r.status === 201 || r.status === 200) {
        note('');
        // state.sale, not sale: a read of the sale may have replaced it
        // while the press was on its way.
        const item = state.sale.items.find((it) => it.item_id === itemID);
        if (r.status === 201 && item) {
          // The units just taken, until a read of the sale counts them.
          item.remaining_quantity = Math.max(0, item.remaining_quantity - r.body.quantity);
          item.takenSeen = performance.now();
        }
        setOrder(r.body);
        $('order-title').focus();
        return;
      }
      if (code === 'challenge_required' && r.body.challenge) {
        note('');
        solution = await solve(r.body.challenge);
        if (!solution) return note('The check could not be solved; press Buy to try again.');
        note('Reserving…');
        continue;
      }
      switch (code) {
        case 'sold_out':
          markSoldOut(itemID);
          return note('Sold out: every unit has been taken.');
        case 'already_purchased':
          return note('You already hold or bought as many as one shopper may.');
        case 'rate_limited':
          state.retryAt = serverNow() + Math.max(1000, r.retryAfter);
          return note('Too many tries at once. The button comes back when the wait is over.');
        case 'admission_required':
          state.ticket = null;
          return note('This sale has a waiting room: join the line, and buy when it is your turn.');
        case 'sale_not_active':
          await loadSale(sale.sale_id);
          if (r.body.error.reason === 'paused') return note('The shop has paused this sale. The button comes back when it resumes.');
          return note(phase() === 'ended' ? 'The sale has ended.' : 'The sale has not started yet.');
        case 'unauthenticated':
          return note('');
        default:
          return note(errorText(r));
      }
    }
  }

  // followRequest polls a queued request (202) where and when its answer
  // says, until it is settled; it gives the settled answer.
  async function followRequest(r, note) {
    const url = r.body.status_url;
    for (let i = 0; r.status === 202; i++) {
      note('Your request is in the queue…');
      await sleep(Math.max(r.retryAfter, 250) + Math.random() * 250);
      r = await patiently('checking your request', () => call('GET', url), note);
      if (i > 600) break;
    }
    return r;
  }

  // solve runs the proof of work in a Web Worker, showing its progress,
  // and resolves to the Flashsale-Challenge header ('' if unsolved) once
  // the service takes it: a paced sale's not before its salt's notbefore.
  function solve(challenge) {
    const panel = $('challenge');
    const bar = $('challenge-progress');
    panel.hidden = false;
    bar.value = 0;
    bar.textContent = '0 %';
    return new Promise((resolve) => {
      const worker = new Worker(document.body.dataset.worker);
      const done = (header) => {
        worker.terminate();
        panel.hidden = true;
        resolve(header);
      };
      worker.onmessage = (e) => {
        if ('progress' in e.data) {
          bar.value = Math.round(e.data.progress * 100);
          bar.textContent = bar.value + ' %';
          return;
        }
        if (e.data.number == null) return done('');
        const header = L.solutionHeader(challenge, e.data.number);
        setTimeout(() => done(header), L.solutionWait(challenge, serverNow()));
      };
      worker.onerror = () => done('');
      worker.postMessage(challenge);
    });
  }

  // --- the order -------------------------------------------------------

  function setOrder(update) {
    const before = state.order;
    state.order = L.mergeOrder(state.order, update);
    if (state.order !== before && state.order && state.order.status !== (before && before.status)) {
      if (['reserved', 'paying'].includes(state.order.status)) stopTicket(); // reserved: the line has done its job
      if (['expired', 'cancelled'].includes(state.order.status)) setTimeout(() => loadSale(state.sale.sale_id).then(render), 1000);
      sessionStorage.setItem('flashsale.order.' + state.sale.sale_id, state.order.order_id);
    }
    render();
  }

  let orderCheck = 0; // when the page last asked for the order past its deadline

  function renderOrder(now) {
    const o = state.order;
    $('order').hidden = !o;
    if (!o) return;
    const item = state.sale.items.find((i) => i.item_id === o.item_id);
    setText($('order-item'), `${o.quantity || 1} × ${item ? item.name : o.item_id}, ${o.total_amount} ${o.currency}`);
    const status = $('order-status');
    status.dataset.status = o.status;
    const left = Date.parse(o.reservation_expires_at) - now;
    let text = '';
    let timer = '';
    switch (o.status) {
      case 'reserved':
        text = 'Reserved: the unit is yours until the time runs out. Pay to confirm.';
        if (o.last_payment_error) text = `Payment failed: ${L.declineReason(o.last_payment_error)}. Choose another card and pay again; the unit stays reserved.`;
        if (left > 0) timer = `${Math.ceil(left / 1000)} s left to pay (${L.formatDuration(left)}).`;
        else {
          timer = 'Time is up; checking…';
          if (performance.now() - orderCheck > 2000) { orderCheck = performance.now(); refreshOrder(); }
        }
        break;
      case 'paying':
        text = 'Paying…';
        break;
      case 'confirmed':
        text = `Confirmed: paid ${o.amount_charged || o.total_amount} ${o.currency}. Thank you!`;
        break;
      case 'expired':
        text = 'Expired: the time to pay ran out and the unit went back on sale.';
        break;
      case 'cancelled':
        text = 'Cancelled: the unit went back on sale.';
        break;
      case 'payment_failed':
        text = 'Payment failed too many times; the order is closed and the unit went back on sale.';
        break;
      case 'refunded':
        text = `Refunded: the shop gave back your ${o.total_amount} ${o.currency}.`;
        break;
    }
    setText(status, text);
    setText($('order-timer'), timer);
    const payable = o.status === 'reserved' && left > 0;
    $('pay-form').hidden = !payable;
  }

  async function refreshOrder() {
    const o = state.order;
    if (!o) return;
    const r = await call('GET', '/orders/' + encodeURIComponent(o.order_id));
    if (r.status === 200) setOrder(r.body);
  }

  async function pay(e) {
    e.preventDefault();
    const o = state.order;
    const button = $('pay');
    button.disabled = true;
    $('cancel').disabled = true;
    const token = $('card').value;
    const note = message;
    note('Paying…');
    try {
      const r = await patiently('paying', () => call('POST', `/orders/${encodeURIComponent(o.order_id)}/pay`,
        { body: { payment_token: token, payment_method: 'credit_card' } }), note);
      note('');
      if (r.status === 200) return setOrder(r.body);
      if (r.status === 402) {
        setOrder({ order_id: o.order_id, last_payment_error: (r.body.error && r.body.error.reason) || 'card_declined' });
        return refreshOrder();
      }
      if (r.status === 410) return setOrder({ order_id: o.order_id, status: 'expired' });
      message(errorText(r));
      refreshOrder();
    } finally {
      button.disabled = false;
      $('cancel').disabled = false;
    }
  }

  async function cancel() {
    const o = state.order;
    $('cancel').disabled = true;
    try {
      const r = await patiently('cancelling', () => call('POST', `/orders/${encodeURIComponent(o.order_id)}/cancel`), message);
      if (r.status === 200) { message(''); return setOrder(r.body); }
      message(errorText(r));
      refreshOrder();
    } finally {
      $('cancel').disabled = false;
    }
  }

  // --- live events -----------------------------------------------------

  let streamFailures = 0;

  function openStream() {
    if (state.stream || !state.token || !state.sale) return;
    let url = '/events?access_token=' + encodeURIComponent(state.token);
    if (state.sale.waiting_room) url += '&queue=' + encodeURIComponent(state.sale.sale_id);
    const es = new EventSource(url);
    state.stream = es;
    const onOrder = (e) => {
      if (!state.events.fresh(e.lastEventId)) return;
      let data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      if (state.order) setOrder(L.applyEvent(state.order, e.type, data));
      // A lottery's reservation is made by the draw, not by a press: the
      // entries say which order it is.
      else if (state.sale.mode === 'lottery' && data.order && data.order.sale_id === state.sale.sale_id) refreshEntries();
    };
    for (const type of ['order.reserved', 'order.confirmed', 'order.expired', 'order.cancelled',
      'order.payment_declined', 'order.payment_failed', 'order.refunded']) es.addEventListener(type, onOrder);
    const onTicket = (e) => {
      let data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      if (data.sale_id === state.sale.sale_id) setTicket(data);
    };
    for (const type of ['queue.updated', 'queue.admitted', 'queue.sold_out']) es.addEventListener(type, onTicket);
    es.onopen = () => { streamFailures = 0; };
    es.onerror = () => {
      // The browser reconnects by itself (with Last-Event-ID) unless the
      // server refused the stream; then try again later, spread out, and
      // meanwhile the order and the ticket are polled.
      if (es.readyState !== EventSource.CLOSED) return;
      state.stream = null;
      setTimeout(openStream, L.backoffDelay(streamFailures++, 5000));
    };
  }

  function closeStream() {
    if (state.stream) state.stream.close();
    state.stream = null;
  }

  function streamOpen() {
    return state.stream && state.stream.readyState === EventSource.OPEN;
  }

  // --- the waiting room ------------------------------------------------

  let ticketTimer = 0;
  let ticketDone = false;

  let ticketSeen = 0; // when the page last learned of its place

  function setTicket(t) {
    state.ticket = t;
    ticketSeen = performance.now();
    if (t.status === 'sold_out') markSoldOut(null);
    render();
    scheduleTicket();
  }

  // scheduleTicket keeps the place: an open stream reads it for the page;
  // without one the page polls after the ticket's poll_after_ms, until
  // the place is over or a reservation is made (an admitted shopper who
  // has not reserved can be abandoned too). A stream that has said
  // nothing for three poll intervals (10 s at least) is checked by one
  // poll, in case a change went unsaid.
  function scheduleTicket() {
    clearTimeout(ticketTimer);
    const t = state.ticket;
    if (ticketDone || !t || ['expired', 'sold_out'].includes(t.status)) return;
    const poll = Math.max(1000, t.poll_after_ms || 5000);
    ticketTimer = setTimeout(() => {
      if (streamOpen() && performance.now() - ticketSeen < Math.max(3 * poll, 10000)) scheduleTicket();
      else refreshTicket();
    }, poll);
  }

  function stopTicket() {
    ticketDone = true;
    clearTimeout(ticketTimer);
  }

  async function refreshTicket() {
    const id = encodeURIComponent(state.sale.sale_id);
    const r = await patiently('checking your place', () => call('GET', `/flash-sales/${id}/queue`), message);
    if (r.status === 200) setTicket(r.body);
    else if (r.status === 404) { state.ticket = null; render(); }
    else scheduleTicket();
  }

  async function join() {
    if (!state.token) {
      message('Sign in first: paste your access token above.');
      $('token').focus();
      return;
    }
    const id = encodeURIComponent(state.sale.sale_id);
    state.joining = true;
    render();
    let solution = '';
    try {
      for (;;) {
        const headers = { 'Flashsale-Device': deviceID() };
        if (solution) headers['Flashsale-Challenge'] = solution;
        // A line that counts cards gives a card one place: the join names it.
        const body = countsCards() ? { payment_token: $('entry-card').value } : undefined;
        const r = await patiently('joining the line', () => call('POST', `/flash-sales/${id}/queue`, { headers, body }), message);
        const code = L.errorCode(r.body);
        if (r.status === 201 || r.status === 200) {
          ticketDone = false;
          message('');
          return setTicket(r.body);
        }
        if (code === 'challenge_required' && r.body.challenge) {
          solution = await solve(r.body.challenge);
          if (solution) continue;
          return message('The check could not be solved; try joining again.');
        }
        if (code === 'queue_not_open') {
          state.queueOpensAt = Date.parse(r.body.error.opens_at);
          return message('');
        }
        if (code === 'sold_out') markSoldOut(null);
        return message(errorText(r));
      }
    } finally {
      state.joining = false;
      render();
    }
  }

  async function leave() {
    const r = await call('DELETE', `/flash-sales/${encodeURIComponent(state.sale.sale_id)}/queue`);
    if (r.status === 200 || r.status === 404) {
      clearTimeout(ticketTimer);
      state.ticket = null;
      message('You left the line.');
      render();
    } else message(errorText(r));
  }

  function renderTicket(now) {
    const sale = state.sale;
    if (!sale.waiting_room) return;
    const t = state.ticket;
    const opensIn = state.queueOpensAt - now;
    const held = t && !['expired', 'sold_out'].includes(t.status);
    let text = L.describeTicket(t);
    if (!t) {
      text = opensIn > 0 ? `The line opens in ${L.formatDuration(opensIn)}.`
        : 'Buying goes through a line: join it, and the Buy button comes alive when it is your turn.';
    }
    const status = $('queue-status');
    status.dataset.status = t ? t.status : 'none';
    setText(status, text);
    const expires = t && t.admission_expires_at ? Date.parse(t.admission_expires_at) - now : 0;
    setText($('queue-admission'), t && t.status === 'admitted' && expires > 0 && !ticketDone
      ? `Your turn lasts ${L.formatDuration(expires)} more.` : '');
    $('join').hidden = held || phase() === 'ended';
    $('join').disabled = !!state.joining || opensIn > 0;
    $('leave').hidden = !held || ticketDone;
  }

  // --- the lottery -----------------------------------------------------

  let lotteryTimer = 0;
  let drawTimer = 0;

  function lotteryPhase(now) {
    return L.lotteryPhase(state.sale, now, state.draw && state.draw.status === 'drawn');
  }

  function showLottery() {
    const id = encodeURIComponent(state.sale.sale_id);
    $('lottery').hidden = false;
    $('draw-doc').href = `/flash-sales/${id}/draw`;
    setText($('verify-command'), L.verifyCommand(location.origin, state.sale.sale_id));
    refreshDraw();
    if (state.token) refreshEntries();
  }

  // refreshEntries reads the shopper's entries, follows a won entry to its
  // order (whose pay form is the usual one), and asks again as
  // lotteryPollDelay says, or at the close of entries while they are open.
  async function refreshEntries() {
    clearTimeout(lotteryTimer);
    if (!state.token) return;
    const id = encodeURIComponent(state.sale.sale_id);
    const r = await patiently('checking your entries', () => call('GET', `/flash-sales/${id}/entries`), message);
    if (r.status === 200) {
      state.entries = {};
      for (const e of r.body.entries) state.entries[e.item_id] = e;
      // An entry settled means the draw is published: read it now rather
      // than at its next poll.
      if (r.body.entries.some((e) => e.status !== 'entered') && !(state.draw && state.draw.status === 'drawn')) refreshDraw();
      const won = r.body.entries.find((e) => e.status === 'won' && e.order_id);
      if (won && !(state.order && state.order.order_id === won.order_id)) {
        const o = await call('GET', '/orders/' + encodeURIComponent(won.order_id));
        if (o.status === 200) {
          state.order = null; // a new order, not an update of an older one
          setOrder(o.body);
        }
      }
    }
    render();
    scheduleEntries();
  }

  function scheduleEntries() {
    clearTimeout(lotteryTimer);
    const now = serverNow();
    const phase = lotteryPhase(now);
    const list = Object.values(state.entries);
    let wait = L.lotteryPollDelay(phase, list);
    if (!wait && phase === 'open' && list.some((e) => e.status === 'entered')) {
      wait = Date.parse(state.sale.lottery.entries_close) - now + 1000 + Math.random() * 2000;
    }
    if (wait > 0) lotteryTimer = setTimeout(refreshEntries, wait);
  }

  // refreshDraw reads the published draw: the commitment from the opening
  // of entries, the seed and the entries once drawn (then never again).
  async function refreshDraw() {
    clearTimeout(drawTimer);
    const id = encodeURIComponent(state.sale.sale_id);
    const r = await call('GET', `/flash-sales/${id}/draw`);
    if (r.status === 200) state.draw = r.body;
    renderDraw();
    render();
    if (state.draw && state.draw.status === 'drawn') return;
    const now = serverNow();
    const l = state.sale.lottery;
    let wait = 3000 + Math.random() * 2000; // while the draw is under way
    if (now < Date.parse(l.entries_open)) wait = Date.parse(l.entries_open) - now + Math.random() * 2000;
    else if (now < Date.parse(l.entries_close)) wait = Date.parse(l.entries_close) - now + 1000 + Math.random() * 2000;
    if (now < Date.parse(state.sale.end_time)) drawTimer = setTimeout(refreshDraw, Math.min(wait, 2 ** 31 - 1));
  }

  function renderDraw() {
    const d = state.draw;
    setText($('draw-commitment'), d ? d.commitment : 'published when entries open');
    setText($('draw-seed'), d && d.seed ? d.seed : 'published with the draw');
    const list = $('draw-items');
    list.replaceChildren();
    for (const it of (d && d.items) || []) {
      const item = state.sale.items.find((i) => i.item_id === it.item_id);
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = it.entries_url;
      a.textContent = `the ${it.entry_count} entry ids`;
      const digest = document.createElement('code');
      digest.textContent = it.entries_digest;
      li.append(`${item ? item.name : it.item_id}: `, a, ', whose digest is ', digest);
      list.append(li);
    }
  }

  function renderLottery(now) {
    const sale = state.sale;
    const l = sale.lottery;
    const phase = lotteryPhase(now);
    const texts = {
      before: ['Entries open in', L.formatDuration(Date.parse(l.entries_open) - now)],
      open: ['Entries close in', L.formatDuration(Date.parse(l.entries_close) - now)],
      drawing: ['Entries are closed: the draw is under way.', ''],
      drawn: ['Drawn.', ''],
      ended: ['This sale has ended.', ''],
    };
    setText($('sale-state'), texts[phase][0]);
    setText($('countdown'), texts[phase][1]);
    let status = '';
    if (!state.token) status = 'Sign in to enter the draw.';
    else if (!Object.keys(state.entries).length) {
      status = phase === 'open' ? 'You have not entered yet.' : phase === 'before' ? 'Entries are not open yet.' : 'You did not enter this draw.';
    }
    setText($('lottery-status'), status);
    for (const it of sale.items) {
      const li = document.querySelector(`#items li[data-item="${CSS.escape(it.item_id)}"]`);
      if (!li) continue;
      const entry = state.entries[it.item_id];
      li.dataset.entry = entry ? entry.status : 'none';
      setText(li.querySelector('.stock'), `${it.total_quantity} units, drawn among the entries`);
      const button = li.querySelector('.buy');
      let label = L.entryLabel(entry);
      if (!entry && phase === 'before') label = 'Enter the draw (not yet)';
      else if (!entry && phase !== 'open') label = 'Entries closed';
      setText(button, label);
      button.disabled = !!entry || phase !== 'open' || state.busy;
      if (entry) setText(li.querySelector('.item-note'), L.describeEntry(entry));
    }
  }

  // countsCards reports whether the sale allows one buyer per card: its
  // entries, or the joins of its line, then name the card they will pay
  // with.
  function countsCards() {
    return !!(state.sale.limits && state.sale.limits.per_card > 0);
  }

  async function enter(itemID) {
    if (!state.token) {
      message('Sign in first: paste your access token above.');
      $('token').focus();
      return;
    }
    message('');
    state.busy = true;
    render();
    const note = (text) => itemNote(itemID, text);
    const id = encodeURIComponent(state.sale.sale_id);
    let solution = '';
    try {
      note('Entering…');
      for (;;) {
        const headers = { 'Flashsale-Device': deviceID() };
        if (solution) headers['Flashsale-Challenge'] = solution;
        const body = { item_id: itemID };
        if (countsCards()) body.payment_token = $('entry-card').value;
        const r = await patiently('entering', () => call('POST', `/flash-sales/${id}/entries`, { body, headers }), note);
        solution = '';
        const code = L.errorCode(r.body);
        if (r.status === 201 || r.status === 200) {
          state.entries[itemID] = r.body;
          note(L.describeEntry(r.body));
          scheduleEntries();
          return;
        }
        if (code === 'challenge_required' && r.body.challenge) {
          note('');
          solution = await solve(r.body.challenge);
          if (!solution) return note('The check could not be solved; press Enter the draw to try again.');
          note('Entering…');
          continue;
        }
        if (code === 'entries_closed') return note('Entries are closed for this draw.');
        if (code === 'unauthenticated') return note('');
        return note(errorText(r));
      }
    } finally {
      state.busy = false;
      render();
    }
  }

  // --- start -----------------------------------------------------------

  $('signin').addEventListener('submit', (e) => {
    e.preventDefault();
    signIn($('token').value);
    $('token').value = '';
  });
  $('signout').addEventListener('click', () => signOut());
  if (document.body.dataset.demo === 'on') {
    $('demo-signin').hidden = false;
    $('demo-signin').addEventListener('click', demoSignIn);
  }
  $('pay-form').addEventListener('submit', pay);
  $('cancel').addEventListener('click', cancel);
  $('join').addEventListener('click', join);
  $('leave').addEventListener('click', leave);
  renderWho();

  const match = location.pathname.match(/^\/sales\/([^/]+)$/);
  if (match) showSale(decodeURIComponent(match[1]));
  else showList();
})();
