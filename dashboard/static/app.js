// igentai dashboard page: connects to /ws, renders the frames the dashboard
// relays (the run's chart history on connect, then metrics snapshots and new
// items) and wires the controls.
//
// Stale snapshots (a `seq` not above the last one shown) are dropped. When
// the connection drops the page says so and reconnects with backoff; the
// dashboard then sends the latest snapshot again. A dashboard with a token
// refuses the WebSocket until the page has logged in: the page then asks
// for the token and connects once it is accepted.

import { Charts } from './charts.js';
import { askToken, onLogin, setupControls } from './controls.js';
import { $, DASH, el, fmt, isNum, setBar, setText } from './format.js';
import { Items } from './items.js';
import { renderModels, renderPartitions, renderProviders, renderWorkers } from './tables.js';

const STALE_AFTER_MS = 5000;    // "no metrics for …" after this long
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;

const charts = new Charts();
const items = new Items();
const weights = setupControls();

let lastSeq = -1;
let lastMetricsAt = 0;          // local clock, for the freshness line

const headline = {};
for (const node of document.querySelectorAll('[data-h]')) headline[node.dataset.h] = node;
const show = (key, text) => setText(headline[key], text);

function onMetrics(s) {
  if (!s || !isNum(s.seq) || s.seq <= lastSeq) return;  // stale or replayed
  lastSeq = s.seq;
  lastMetricsAt = Date.now();
  const run = s.run || null;

  renderHeader(s, run);
  renderHeadline(s, run);
  renderRun(run);
  renderProviders(s);
  renderWorkers(s);
  renderPartitions(s);
  renderModels(s);
  weights.update(s);
  charts.push(run ? run.run_id : null, s);
  $('download').hidden = !run;
  renderFreshness();
}

function renderHeader(s, run) {
  const state = typeof s.state === 'string' ? s.state : 'unknown';
  const badge = $('state');
  badge.dataset.state = state;
  setText(badge, state);
  setText($('topic'), run ? run.topic : 'no run yet');
  setText($('stop-reason'), run && run.stop_reason ? `stopped: ${run.stop_reason}` : '');
  const problem = $('last-error');
  problem.hidden = !s.last_error;
  setText(problem, s.last_error ? `Coordinator: ${s.last_error}` : '');
  document.title = run && state === 'running' ? `igentai · ${run.topic}` : 'igentai';
}

function renderHeadline(s, run) {
  const t = s.totals || {};
  const target = run && isNum(run.target) ? run.target : null;
  show('unique', fmt.int(t.unique));
  show('unique-sub', target
    ? `${fmt.pct(t.unique / target)} of target ${fmt.int(target)}`
    : (isNum(t.new_this_run) ? `+${fmt.int(t.new_this_run)} this run` : ''));
  setBar(headline['unique-bar'], target ? t.unique / target : null);

  show('rate', fmt.rate(t.unique_per_min));
  show('rate-sub', 'new items per minute');

  show('ratio', fmt.pct(t.uniqueness_ratio));
  show('ratio-sub', `${fmt.int(t.candidates)} candidates · ${fmt.int(t.duplicates)} repeats`);

  const v = t.validity || {};
  show('valid', v.judged > 0 ? fmt.pct(v.valid_share) : DASH);
  let validSub = 'not judged';
  if (v.judged > 0) {
    const sampled = v.rate < 1 ? ` (${fmt.pct(v.valid_share_low)}–${fmt.pct(v.valid_share_high)})` : '';
    const perUsd = v.valid_per_usd > 0 ? ` · ${fmt.int(v.valid_per_usd)} / $` : '';
    validSub = `${fmt.int(v.valid)} of ${fmt.int(v.judged)} judged${sampled}${perUsd}`;
  } else if (v.rate > 0) {
    validSub = 'waiting for the judge';
  }
  show('valid-sub', validSub);

  const e = s.estimate;
  show('estimate', e && isNum(e.total) ? fmt.int(e.total) : DASH);
  const of = e && e.valid ? ' (valid items)' : '';
  show('estimate-sub', e && isNum(e.coverage) ? `${fmt.pct(e.coverage)} covered${of}` : 'needs repeated sightings');
  setBar(headline['estimate-bar'], e && isNum(e.coverage) ? e.coverage : null);

  const tokens = (t.tokens_in || 0) + (t.tokens_out || 0);
  show('tokens', fmt.compact(tokens));
  const perK = tokens > 0 ? (t.new_this_run || 0) / (tokens / 1000) : null;
  // Input read from a prompt cache (billed cheaper), once there is some.
  const cached = t.tokens_cached_in > 0 ? ` (${fmt.compact(t.tokens_cached_in)} cached)` : '';
  const split = `${fmt.compact(t.tokens_in)} in${cached} / ${fmt.compact(t.tokens_out)} out`;
  show('tokens-sub', perK === null ? split : `${split} · ${fmt.rate(perK)} new / 1k`);

  const budget = run && isNum(run.budget_usd) ? run.budget_usd : null;
  show('cost', fmt.usd(t.cost_usd));
  show('cost-sub', budget !== null ? `of ${fmt.usd(budget)} budget` : 'no budget set');
  setBar(headline['cost-bar'], budget ? (t.cost_usd || 0) / budget : null);

  const state = typeof s.state === 'string' ? s.state : 'unknown';
  show('state', state);
  const started = run ? `since ${fmt.clock(run.started_at_ms)}` : 'no run yet';
  show('state-sub', run && run.stop_reason ? run.stop_reason : started);
  headline.state.dataset.state = state;

  const max = run && isNum(run.max_duration_s) ? run.max_duration_s : null;
  show('elapsed', fmt.duration(t.elapsed_s));
  show('elapsed-sub', max ? `of ${fmt.duration(max)}` : 'no time limit');
  setBar(headline['elapsed-bar'], max ? (t.elapsed_s || 0) / max : null);

  const rejected = (t.rejected_batches || 0) + (t.invalid_items || 0);
  show('backlog', fmt.int(s.backlog));
  show('backlog-sub', rejected > 0
    ? `${fmt.int(t.rejected_batches)} bad batches · ${fmt.int(t.invalid_items)} bad items`
    : 'batches waiting');
}

function renderRun(run) {
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
  const opt = (x, f) => (x === null || x === undefined ? 'none' : f(x));
  const limits = [
    `target ${opt(run.target, fmt.int)}`,
    `budget ${opt(run.budget_usd, fmt.usd)}`,
    `duration ${opt(run.max_duration_s, fmt.duration)}`,
  ];
  if (isNum(run.min_coverage)) limits.push(`coverage ${fmt.pct(run.min_coverage)}`);
  if (isNum(run.min_yield_per_1k_tokens)) limits.push(`yield ≥ ${run.min_yield_per_1k_tokens} / 1k tokens`);
  rows.push(['Limits', limits.join(' · ')]);
  const st = run.strategies || {};
  const on = ['weights', 'partitions', 'avoid'].filter((k) => st[k] !== false);
  rows.push(['Strategies', on.length ? on.join(', ') : 'none']);
  if (run.resumed_items) rows.push(['Resumed with', `${fmt.int(run.resumed_items)} known items`]);
  const nodes = [];
  for (const [term, value] of rows) nodes.push(el('dt', term), el('dd', value));
  dl.replaceChildren(...nodes);
}

function renderFreshness() {
  const line = $('freshness');
  if (lastMetricsAt === 0) {
    line.dataset.kind = 'waiting';
    setText(line, 'waiting for metrics…');
    return;
  }
  const age = Date.now() - lastMetricsAt;
  const stale = age > STALE_AFTER_MS;
  line.dataset.kind = stale ? 'stale' : 'live';
  setText(line, stale ? `no metrics for ${fmt.duration(age / 1000)}: is the coordinator running?` : 'live');
}

// ---- connection ---------------------------------------------------------

let backoff = BACKOFF_MIN_MS;

function showBanner(text) {
  const banner = $('banner');
  if (text) setText(banner, text);
  banner.hidden = !text;
  document.body.dataset.connected = text ? 'no' : 'yes';
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
    if (!frame || typeof frame !== 'object') return;
    if (frame.type === 'metrics') onMetrics(frame.data);
    else if (frame.type === 'items') items.add(frame.data);
    else if (frame.type === 'history' && frame.data) charts.history(frame.data.run_id, frame.data.points);
    else if (frame.type === 'hello' && frame.data) setText($('version'), `igentai dashboard ${frame.data.version}`);
  });
  socket.addEventListener('close', checkAccess);
}

let waitingForToken = false;

// A refused WebSocket looks like any failed one to a page: ask a plain
// route whether the token is what is missing.
async function checkAccess() {
  try {
    const response = await fetch('api/relay', { cache: 'no-store' });
    if (response.status === 401) {
      waitingForToken = true;
      showBanner('This dashboard needs its token: enter it under Controls.');
      askToken('This dashboard needs its token to show the run.');
      return;
    }
  } catch (err) {
    // Unreachable: reconnect with backoff.
  }
  scheduleReconnect();
}

onLogin(() => {
  if (!waitingForToken) return;
  waitingForToken = false;
  backoff = BACKOFF_MIN_MS;
  connect();
});

function scheduleReconnect() {
  const delay = backoff + Math.random() * backoff * 0.3;
  backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  showBanner(`Disconnected from the dashboard: reconnecting in ${Math.ceil(delay / 1000)} s…`);
  setTimeout(connect, delay);
}

renderFreshness();
setInterval(renderFreshness, 1000);
connect();
