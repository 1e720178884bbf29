// igentai dashboard page: renders the frames the dashboard relays over /ws
// (metrics snapshots and new items) and sends start/stop to /api/*.
//
// Items are text produced by LLMs and may contain markup such as <script> or
// <img onerror>; everything here is written with textContent or as DOM
// attributes, never parsed as HTML.
'use strict';

(() => {
  const MAX_ITEMS = 200;          // items kept in the feed
  const MAX_POINTS = 720;         // sparkline history (~12 min at 1 Hz)
  const STALE_AFTER_MS = 5000;    // "no metrics for …" after this long
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;

  const $ = (id) => document.getElementById(id);

  // ---- formatting -------------------------------------------------------

  const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
  const intFmt = new Intl.NumberFormat();
  const compactFmt = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
  const DASH = '–';

  const fmt = {
    int: (n) => (isNum(n) ? intFmt.format(Math.round(n)) : DASH),
    compact: (n) => (isNum(n) ? (Math.abs(n) < 10000 ? intFmt.format(n) : compactFmt.format(n)) : DASH),
    pct: (r) => (isNum(r) ? `${(r * 100).toFixed(r >= 0.995 || r === 0 ? 0 : 1)}%` : DASH),
    rate: (x) => (isNum(x) ? (x >= 100 ? intFmt.format(Math.round(x)) : x.toFixed(1)) : DASH),
    usd: (x) => {
      if (!isNum(x)) return DASH;
      if (x === 0) return '$0';
      return x < 0.01 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`;
    },
    ms: (x) => (isNum(x) ? (x >= 1000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`) : DASH),
    duration: (s) => {
      if (!isNum(s)) return DASH;
      s = Math.max(0, Math.round(s));
      const h = Math.floor(s / 3600);
      const m = Math.floor((s % 3600) / 60);
      const sec = s % 60;
      if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
      if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
      return `${sec}s`;
    },
    time: (ms) => (isNum(ms) ? new Date(ms).toLocaleString() : DASH),
    opt: (x, f) => (x === null || x === undefined ? 'none' : f(x)),
  };

  // ---- DOM helpers (text only) -----------------------------------------

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function setText(node, text) {
    const value = text === undefined || text === null ? '' : String(text);
    if (node.textContent !== value) node.textContent = value;
  }

  // A table body from rows of cells; a cell is a string or {text, num, node}.
  function fillTable(tbody, rows, columns, emptyText) {
    if (rows.length === 0) {
      const td = el('td', emptyText, 'empty');
      td.colSpan = columns;
      const tr = el('tr');
      tr.append(td);
      tbody.replaceChildren(tr);
      return;
    }
    tbody.replaceChildren(...rows.map(({ cells, className }) => {
      const tr = el('tr', null, className);
      for (const cell of cells) {
        const c = typeof cell === 'object' && cell !== null ? cell : { text: cell };
        const td = el('td', null, c.num ? 'num' : '');
        if (c.node) td.append(c.node);
        if (c.text !== undefined) td.append(document.createTextNode(String(c.text)));
        tr.append(td);
      }
      return tr;
    }));
  }

  function dot(ok) {
    return el('span', null, `dot ${ok ? 'ok' : 'bad'}`);
  }

  // ---- metrics ----------------------------------------------------------

  let lastSeq = -1;
  let lastMetricsAt = 0;      // local clock, for the freshness line
  let currentRunId = null;
  const history = [];         // [ts_ms, unique]

  const totalsEls = {};
  for (const node of document.querySelectorAll('[data-total]')) totalsEls[node.dataset.total] = node;
  const setTotal = (key, text) => totalsEls[key] && setText(totalsEls[key], text);

  function onMetrics(s) {
    if (!s || !isNum(s.seq) || s.seq <= lastSeq) return;  // stale or replayed
    lastSeq = s.seq;
    lastMetricsAt = Date.now();

    const run = s.run || null;
    const runId = run ? run.run_id : null;
    if (runId !== currentRunId) {
      currentRunId = runId;
      history.length = 0;
    }

    renderHeader(s, run);
    renderRun(s, run);
    renderTotals(s);
    renderProviders(s.providers || {}, s.weights || {});
    renderModels(s.models || {});
    renderWorkers(Array.isArray(s.workers) ? s.workers : []);
    renderPartitions(Array.isArray(s.partitions) ? s.partitions : []);

    const t = s.totals || {};
    if (isNum(t.unique)) {
      history.push([isNum(s.ts_ms) ? s.ts_ms : Date.now(), t.unique]);
      if (history.length > MAX_POINTS) history.splice(0, history.length - MAX_POINTS);
      drawSparkline();
    }
    renderFreshness();
  }

  function renderHeader(s, run) {
    const badge = $('state');
    const state = typeof s.state === 'string' ? s.state : 'unknown';
    badge.dataset.state = state;
    setText(badge, state);
    setText($('topic'), run ? run.topic : 'no run yet');
    const problem = $('last-error');
    problem.hidden = !s.last_error;
    setText(problem, s.last_error ? `Coordinator: ${s.last_error}` : '');
    document.title = run && state === 'running' ? `igentai · ${run.topic}` : 'igentai';
  }

  function renderRun(s, run) {
    const dl = $('run');
    if (!run) {
      dl.replaceChildren();
      return;
    }
    const rows = [
      ['Run', run.run_id],
      ['Output', run.output_dir],
      ['Started', fmt.time(run.started_at_ms)],
    ];
    if (run.stopped_at_ms) rows.push(['Stopped', fmt.time(run.stopped_at_ms)]);
    if (run.stop_reason) rows.push(['Stop reason', run.stop_reason]);
    const limits = [
      `target ${fmt.opt(run.target, fmt.int)}`,
      `budget ${fmt.opt(run.budget_usd, fmt.usd)}`,
      `max duration ${fmt.opt(run.max_duration_s, fmt.duration)}`,
    ];
    if (isNum(run.min_coverage)) limits.push(`stop at ${fmt.pct(run.min_coverage)} coverage`);
    if (isNum(run.min_yield_per_1k_tokens)) {
      limits.push(`stop below ${run.min_yield_per_1k_tokens} new items / 1k tokens`);
    }
    rows.push(['Limits', limits.join(' · ')]);
    if (run.resumed_items) rows.push(['Resumed with', `${fmt.int(run.resumed_items)} items already known`]);
    const nodes = [];
    for (const [term, value] of rows) nodes.push(el('dt', term), el('dd', value));
    dl.replaceChildren(...nodes);
  }

  function renderTotals(s) {
    const t = s.totals || {};
    setTotal('unique', fmt.int(t.unique));
    setTotal('new_this_run', isNum(t.new_this_run) ? `+${fmt.int(t.new_this_run)} this run` : '');
    setTotal('candidates', fmt.int(t.candidates));
    setTotal('duplicates', fmt.int(t.duplicates));
    setTotal('uniqueness_ratio', fmt.pct(t.uniqueness_ratio));
    setTotal('unique_per_min', fmt.rate(t.unique_per_min));
    setTotal('tokens', `${fmt.compact(t.tokens_in)} / ${fmt.compact(t.tokens_out)}`);
    setTotal('cost_usd', fmt.usd(t.cost_usd));
    setTotal('elapsed_s', fmt.duration(t.elapsed_s));
    const e = s.estimate;
    setTotal('estimate', e && isNum(e.total) ? fmt.int(e.total) : DASH);
    setTotal('coverage', e && isNum(e.coverage) ? `${fmt.pct(e.coverage)} covered` : '');
    setTotal('backlog', fmt.int(s.backlog));
    const rejected = (t.rejected_batches || 0) + (t.invalid_items || 0);
    setTotal('rejected', rejected > 0
      ? `${fmt.int(t.rejected_batches)} bad batches · ${fmt.int(t.invalid_items)} bad items`
      : '');
    const byKind = t.rejected_by_kind && typeof t.rejected_by_kind === 'object'
      ? Object.entries(t.rejected_by_kind).map(([kind, n]) => `${kind}: ${fmt.int(n)}`).join(', ')
      : '';
    if (totalsEls.rejected) totalsEls.rejected.title = byKind;
  }

  // `failures` is a map of kind → count: the total, with the kinds spelled out.
  function failuresCell(failures) {
    const kinds = failures && typeof failures === 'object' ? Object.entries(failures) : [];
    const total = kinds.reduce((sum, [, n]) => sum + (isNum(n) ? n : 0), 0);
    const text = el('span', fmt.int(total));
    if (kinds.length) text.title = kinds.map(([kind, n]) => `${kind}: ${fmt.int(n)}`).join(', ');
    return { num: true, node: text };
  }

  function renderProviders(providers, weights) {
    const rows = Object.keys(providers).sort().map((name) => {
      const p = providers[name] || {};
      const healthy = p.healthy_workers > 0;
      const breakers = p.open_breakers > 0
        ? ` (${fmt.int(p.open_breakers)} breaker${p.open_breakers === 1 ? '' : 's'} open)`
        : '';
      return {
        className: healthy ? '' : 'dead',
        cells: [
          { node: dot(healthy), text: name },
          p.model || '',
          { num: true, text: isNum(weights[name]) ? weights[name].toFixed(2) : DASH },
          { num: true, text: fmt.int(p.requests) },
          failuresCell(p.failures),
          { num: true, text: fmt.int(p.candidates) },
          { num: true, text: fmt.int(p.unique) },
          { num: true, text: fmt.pct(p.uniqueness_ratio) },
          { num: true, text: fmt.rate(p.unique_per_min) },
          { num: true, text: p.unique_per_usd > 0 ? fmt.int(p.unique_per_usd) : DASH },
          { num: true, text: `${fmt.compact(p.tokens_in)} / ${fmt.compact(p.tokens_out)}` },
          { num: true, text: fmt.usd(p.cost_usd) },
          { num: true, text: `${fmt.ms(p.latency_p50_ms)} / ${fmt.ms(p.latency_p95_ms)}` },
          { num: true, text: `${fmt.int(p.healthy_workers)}${breakers}` },
        ],
      };
    });
    fillTable($('providers'), rows, 14, 'no provider has answered yet');
  }

  function renderModels(models) {
    const rows = Object.keys(models).sort().map((name) => {
      const m = models[name] || {};
      return {
        cells: [
          name,
          { num: true, text: fmt.int(m.batches) },
          { num: true, text: fmt.int(m.candidates) },
          { num: true, text: fmt.int(m.unique) },
          { num: true, text: fmt.pct(m.uniqueness_ratio) },
          { num: true, text: fmt.rate(m.unique_per_min) },
          { num: true, text: fmt.rate(m.unique_per_1k_tokens) },
          { num: true, text: m.unique_per_usd > 0 ? fmt.int(m.unique_per_usd) : DASH },
          { num: true, text: fmt.usd(m.cost_usd) },
          { num: true, text: `${fmt.ms(m.latency_p50_ms)} / ${fmt.ms(m.latency_p95_ms)}` },
        ],
      };
    });
    fillTable($('models'), rows, 10, 'no model has answered yet');
  }

  function renderWorkers(workers) {
    const rows = workers
      .slice()
      .sort((a, b) => String(a.worker_id).localeCompare(String(b.worker_id)))
      .map((w) => ({
        className: w.alive ? '' : 'dead',
        cells: [
          { node: dot(w.alive), text: w.worker_id },
          w.alive ? w.state : `${w.state} (silent)`,
          w.partition || (w.run_id ? 'whole topic' : DASH),
          { num: true, text: `${fmt.ms(w.last_seen_ms_ago)} ago` },
          { num: true, text: fmt.int(w.in_flight) },
          { num: true, text: fmt.int(w.batches) },
          { num: true, text: fmt.int(w.candidates) },
          { num: true, text: fmt.int(w.unique) },
          { num: true, text: fmt.int(w.llm_failures) },
          { num: true, text: fmt.int(w.publish_retries) },
        ],
      }));
    fillTable($('workers'), rows, 10, 'no worker connected');
  }

  function renderPartitions(partitions) {
    const rows = partitions.map((p) => ({
      cells: [
        p.name,
        p.state,
        { num: true, text: fmt.int(p.batches) },
        { num: true, text: fmt.int(p.candidates) },
        { num: true, text: fmt.int(p.unique) },
        { num: true, text: fmt.pct(p.uniqueness_ratio) },
        { num: true, text: fmt.rate(p.unique_per_min) },
        { num: true, text: fmt.usd(p.cost_usd) },
      ],
    }));
    fillTable($('partitions'), rows, 8, 'the whole topic is one partition so far');
  }

  function renderFreshness() {
    const line = $('freshness');
    if (lastMetricsAt === 0) {
      setText(line, 'waiting for metrics from the coordinator…');
      return;
    }
    const age = Date.now() - lastMetricsAt;
    setText(line, age > STALE_AFTER_MS
      ? `no metrics for ${fmt.duration(age / 1000)}: is the coordinator running?`
      : 'live');
  }

  // ---- sparkline --------------------------------------------------------

  function drawSparkline() {
    const canvas = $('spark');
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, width, height);
    const style = getComputedStyle(document.documentElement);
    const stroke = style.getPropertyValue('--accent').trim() || '#2f6fde';
    const fill = style.getPropertyValue('--accent-fill').trim() || 'rgba(47,111,222,0.12)';
    const muted = style.getPropertyValue('--muted').trim() || '#888';

    ctx.font = `${11 * ratio}px system-ui, sans-serif`;
    ctx.fillStyle = muted;
    if (history.length < 2) {
      ctx.fillText('collecting data…', 4 * ratio, height / 2);
      return;
    }

    const pad = 4 * ratio;
    const t0 = history[0][0];
    const t1 = history[history.length - 1][0];
    let lo = Infinity;
    let hi = -Infinity;
    for (const [, v] of history) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const span = Math.max(1, t1 - t0);
    const range = Math.max(1, hi - lo);
    const x = (t) => pad + ((t - t0) / span) * (width - 2 * pad);
    const y = (v) => height - pad - ((v - lo) / range) * (height - 2 * pad - 14 * ratio);

    ctx.beginPath();
    history.forEach(([t, v], i) => (i === 0 ? ctx.moveTo(x(t), y(v)) : ctx.lineTo(x(t), y(v))));
    ctx.strokeStyle = stroke;
    ctx.lineWidth = 2 * ratio;
    ctx.lineJoin = 'round';
    ctx.stroke();
    ctx.lineTo(x(t1), height - pad);
    ctx.lineTo(x(t0), height - pad);
    ctx.closePath();
    ctx.fillStyle = fill;
    ctx.fill();

    ctx.fillStyle = muted;
    ctx.fillText(`${fmt.int(hi)} unique · last ${fmt.duration(span / 1000)}`, pad, 11 * ratio);
  }

  window.addEventListener('resize', drawSparkline);

  // ---- items feed -------------------------------------------------------

  const shownItems = new Set();   // run_id + seq of the items in the list

  function onItems(event) {
    if (!event || !Array.isArray(event.items)) return;
    const list = $('items');
    const fragment = document.createDocumentFragment();
    // Newest first: the event lists items in discovery order.
    for (let i = event.items.length - 1; i >= 0; i--) {
      const item = event.items[i] || {};
      const key = `${event.run_id}:${item.seq}`;
      if (shownItems.has(key)) continue;  // replayed after a reconnect
      shownItems.add(key);
      const li = el('li', null, 'fresh');
      li.dataset.key = key;
      li.append(el('span', item.text, 'text'));
      const meta = [item.provider, item.partition].filter(Boolean).join(' · ');
      const seq = el('span', `${meta} #${fmt.int(item.seq)}`, 'meta');
      seq.title = `worker ${item.worker_id || '?'}`;
      li.append(seq);
      fragment.append(li);
    }
    list.prepend(fragment);
    while (list.childElementCount > MAX_ITEMS) {
      shownItems.delete(list.lastElementChild.dataset.key);
      list.lastElementChild.remove();
    }
    setText($('items-count'), `(latest ${fmt.int(list.childElementCount)})`);
  }

  // ---- connection -------------------------------------------------------

  let backoff = BACKOFF_MIN_MS;

  function showBanner(text) {
    const banner = $('banner');
    if (text) setText(banner, text);
    banner.hidden = !text;
  }

  function connect() {
    const url = new URL('ws', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (err) {
      scheduleReconnect();
      return;
    }
    socket.addEventListener('open', () => {
      backoff = BACKOFF_MIN_MS;
      showBanner(null);
    });
    socket.addEventListener('message', (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (err) {
        return;
      }
      if (frame.type === 'metrics') onMetrics(frame.data);
      else if (frame.type === 'items') onItems(frame.data);
      else if (frame.type === 'hello' && frame.data) setText($('footer'), `igentai dashboard ${frame.data.version}`);
    });
    socket.addEventListener('close', scheduleReconnect);
  }

  function scheduleReconnect() {
    const delay = backoff + Math.random() * backoff * 0.3;
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    showBanner(`Disconnected from the dashboard, reconnecting in ${Math.ceil(delay / 1000)} s…`);
    setTimeout(connect, delay);
  }

  // ---- controls ---------------------------------------------------------

  function showResult(kind, text) {
    const result = $('control-result');
    result.dataset.kind = kind;
    setText(result, text);
  }

  function describeReply(reply) {
    if (reply.run_id && 'known_items' in reply) {
      const resumed = reply.resumed ? `, resuming ${fmt.int(reply.known_items)} known items` : '';
      return `Started run ${reply.run_id} on “${reply.topic}”${resumed}. Output: ${reply.output_dir}`;
    }
    if (reply.run_id && 'stop_reason' in reply) {
      const silent = Array.isArray(reply.workers_unresponsive) && reply.workers_unresponsive.length
        ? ` Workers that did not confirm: ${reply.workers_unresponsive.join(', ')}.`
        : '';
      return `Stopped run ${reply.run_id} (${reply.stop_reason}) with ${fmt.int(reply.unique)} unique items.${silent}`;
    }
    return 'OK';
  }

  async function sendControl(path, body) {
    const buttons = [$('start'), $('stop')];
    buttons.forEach((b) => { b.disabled = true; });
    showResult('pending', 'Waiting for the coordinator…');
    try {
      const init = { method: 'POST' };
      if (body !== undefined) {
        init.headers = { 'content-type': 'application/json' };
        init.body = JSON.stringify(body);
      }
      const response = await fetch(path, init);
      const text = await response.text();
      let reply = null;
      try {
        reply = JSON.parse(text);
      } catch (err) {
        reply = null;
      }
      if (reply && reply.ok === true) showResult('ok', describeReply(reply));
      else if (reply && typeof reply.error === 'string') showResult('error', reply.error);
      else showResult('error', `HTTP ${response.status}: ${text}`);
    } catch (err) {
      showResult('error', `Could not reach the dashboard: ${err.message}`);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function readNumber(form, name, integer) {
    const raw = form.elements[name].value.trim();
    if (raw === '') return undefined;
    return integer ? Number.parseInt(raw, 10) : Number.parseFloat(raw);
  }

  $('start-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const request = { topic: form.elements.topic.value.trim() };
    const target = readNumber(form, 'target', true);
    const budget = readNumber(form, 'budget_usd', false);
    const duration = readNumber(form, 'max_duration_s', true);
    const coveragePct = readNumber(form, 'min_coverage', false);
    const minYield = readNumber(form, 'min_yield_per_1k_tokens', false);
    if (target !== undefined) request.target = target;
    if (budget !== undefined) request.budget_usd = budget;
    if (duration !== undefined) request.max_duration_s = duration;
    if (coveragePct !== undefined) request.min_coverage = coveragePct / 100;
    if (minYield !== undefined) request.min_yield_per_1k_tokens = minYield;
    sendControl('api/start', request);
  });

  $('stop').addEventListener('click', () => sendControl('api/stop'));

  // ---- start ------------------------------------------------------------

  renderFreshness();
  drawSparkline();
  setInterval(renderFreshness, 1000);
  connect();
})();
