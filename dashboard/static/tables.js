// igentai dashboard: the providers, workers, partitions and models tables.
//
// Every cell is text (or a small element built with textContent): names
// come from config files, the network and LLMs.

import { $, DASH, el, fmt, isNum } from './format.js';

// A table body from rows of cells; a cell is a string or {text, num, clip,
// node, title}; a clipped cell shows its full text on hover.
function fillTable(tbody, rows, emptyText) {
  const columns = tbody.closest('table').querySelectorAll('thead th').length;
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
      const td = el('td', null, c.num ? 'num' : (c.clip ? 'clip' : ''));
      if (c.node) td.append(c.node);
      if (c.text !== undefined) td.append(document.createTextNode(String(c.text)));
      if (c.title) td.title = c.title;
      else if (c.clip && c.text !== undefined) td.title = String(c.text);
      tr.append(td);
    }
    return tr;
  }));
}

function dot(ok) {
  return el('span', null, `dot ${ok ? 'ok' : 'bad'}`);
}

const num = (text, title) => ({ num: true, text, title });

// `failures` is a map of kind → count: the total, with the kinds spelled out.
function failuresCell(failures) {
  const kinds = failures && typeof failures === 'object' ? Object.entries(failures) : [];
  const total = kinds.reduce((sum, [, n]) => sum + (isNum(n) ? n : 0), 0);
  const title = kinds.map(([kind, n]) => `${kind}: ${fmt.int(n)}`).join(', ');
  return num(fmt.int(total), title || undefined);
}

// A weight as a number and a small bar.
function weightCell(weight, manual) {
  const wrap = el('span', null, 'weight');
  const bar = el('span', null, 'weight-bar');
  const fill = el('span');
  fill.style.width = `${isNum(weight) ? Math.max(0, Math.min(1, weight)) * 100 : 0}%`;
  bar.append(fill);
  wrap.append(bar, el('span', fmt.weight(weight)));
  return { num: true, node: wrap, title: manual ? 'set by hand' : 'learned from yield' };
}

const tokens = (y) => `${fmt.compact(y.tokens_in)} / ${fmt.compact(y.tokens_out)}`;
// Cached input tokens and their share of the input.
const cachedIn = (y) => (y.tokens_in > 0 && y.tokens_cached_in > 0
  ? `${fmt.compact(y.tokens_cached_in)} (${fmt.pct(y.tokens_cached_in / y.tokens_in)})`
  : fmt.compact(y.tokens_cached_in));
const latency = (y) => `${fmt.ms(y.latency_p50_ms)} / ${fmt.ms(y.latency_p95_ms)}`;
const perUsd = (y) => (y.unique_per_usd > 0 ? fmt.int(y.unique_per_usd) : DASH);
// The valid share once a judge saw some of its items.
const validShare = (y) => (y.judged > 0 ? fmt.pct(y.valid_share) : DASH);
const validPerUsd = (y) => (y.judged > 0 && y.valid_per_usd > 0 ? fmt.int(y.valid_per_usd) : DASH);

export function renderProviders(snapshot) {
  const providers = snapshot.providers || {};
  const weights = snapshot.weights || {};
  const names = [...new Set([...Object.keys(providers), ...Object.keys(weights)])].sort();
  const rows = names.map((name) => {
    const p = providers[name] || {};
    const healthy = p.healthy_workers > 0;
    const breakers = p.open_breakers > 0
      ? ` · ${fmt.int(p.open_breakers)} breaker${p.open_breakers === 1 ? '' : 's'} open`
      : '';
    return {
      className: healthy ? '' : 'dead',
      cells: [
        { node: dot(healthy), text: name },
        p.model || DASH,
        weightCell(weights[name], snapshot.weights_manual),
        `${fmt.int(p.healthy_workers)} healthy${breakers}`,
        num(fmt.int(p.requests)),
        failuresCell(p.failures),
        num(fmt.int(p.unique)),
        num(fmt.pct(p.uniqueness_ratio)),
        num(validShare(p)),
        num(fmt.rate(p.unique_per_min)),
        num(perUsd(p)),
        num(validPerUsd(p)),
        num(latency(p)),
        num(tokens(p)),
        num(cachedIn(p)),
        num(fmt.usd(p.cost_usd)),
        num(p.judge_calls > 0 ? fmt.usd(p.judge_cost_usd) : DASH),
      ],
    };
  });
  fillTable($('providers'), rows, 'no provider has answered yet');
}

// A worker's vendor batches in flight (batch-mode providers): how many,
// their requests done of all (and failed), and the oldest's age.
function vendorBatches(w, nowMs) {
  const all = Array.isArray(w.vendor_batches) ? w.vendor_batches : [];
  const sum = (k) => all.reduce((t, b) => t + (isNum(b[k]) ? b[k] : 0), 0);
  const batches = sum('batches');
  if (batches === 0) return DASH;
  const oldest = Math.min(...all.map((b) => (isNum(b.oldest_submitted_at_ms) ? b.oldest_submitted_at_ms : Infinity)));
  const age = isNum(oldest) && isNum(nowMs) ? ` · ${fmt.duration((nowMs - oldest) / 1000)}` : '';
  const failed = sum('failed') > 0 ? `, ${fmt.int(sum('failed'))} failed` : '';
  return `${fmt.int(batches)} · ${fmt.int(sum('done'))}/${fmt.int(sum('requests'))} done${failed}${age}`;
}

export function renderWorkers(snapshot) {
  const workers = Array.isArray(snapshot.workers) ? snapshot.workers : [];
  const rows = workers
    .slice()
    .sort((a, b) => String(a.worker_id).localeCompare(String(b.worker_id)))
    .map((w) => ({
      className: w.alive ? '' : 'dead',
      cells: [
        { node: dot(w.alive), text: w.worker_id },
        w.alive ? w.state : `${w.state} (silent)`,
        { clip: true, text: w.partition || (w.run_id ? 'whole topic' : DASH) },
        num(fmt.int(w.batches)),
        num(fmt.int(w.unique)),
        num(fmt.pct(w.uniqueness_ratio)),
        num(fmt.rate(w.unique_per_min)),
        num(fmt.int(w.in_flight)),
        num(vendorBatches(w, snapshot.ts_ms)),
        num(fmt.int(w.llm_failures)),
        num(fmt.int(w.publish_retries)),
        num(`${fmt.ms(w.last_seen_ms_ago)} ago`),
      ],
    }));
  fillTable($('workers'), rows, 'no worker connected');
  const alive = workers.filter((w) => w.alive).length;
  $('workers-count').textContent = workers.length ? `${alive} of ${workers.length} alive` : '';
}

export function renderPartitions(snapshot) {
  const partitions = Array.isArray(snapshot.partitions) ? snapshot.partitions : [];
  const rows = partitions
    .slice()
    .sort((a, b) => (b.unique || 0) - (a.unique || 0))
    .map((p) => ({
      className: p.state === 'retired' || p.state === 'invalid' ? 'retired' : '',
      cells: [
        { clip: true, text: p.name },
        p.state,
        num(fmt.int(p.batches)),
        num(fmt.int(p.unique)),
        num(fmt.pct(p.uniqueness_ratio)),
        num(validShare(p)),
        num(fmt.rate(p.unique_per_min)),
        num(fmt.rate(p.unique_per_1k_tokens)),
        num(fmt.usd(p.cost_usd)),
      ],
    }));
  fillTable($('partitions'), rows, 'the whole topic is one partition so far');
  $('partitions-count').textContent = partitions.length ? `${partitions.length}` : '';
}

export function renderModels(snapshot) {
  const models = snapshot.models || {};
  const rows = Object.keys(models).sort().map((name) => {
    const m = models[name] || {};
    return {
      cells: [
        name,
        num(fmt.int(m.batches)),
        num(fmt.int(m.unique)),
        num(fmt.pct(m.uniqueness_ratio)),
        num(validShare(m)),
        num(fmt.rate(m.unique_per_min)),
        num(fmt.rate(m.unique_per_1k_tokens)),
        num(perUsd(m)),
        num(latency(m)),
        num(fmt.usd(m.cost_usd)),
      ],
    };
  });
  fillTable($('models'), rows, 'no model has answered yet');
}
