// igentai dashboard: steering a run from the page. Start a topic with its
// options, stop it, override the provider weights or hand them back to the
// coordinator. Replies are shown as the coordinator wrote them.
//
// When the dashboard has a token, its routes answer 401 without it; the
// page then asks for the token once and trades it on `POST api/login` for
// an HttpOnly cookie, which the browser sends from then on (the WebSocket
// and the output.txt link included) and no script can read. The request
// that was refused is then sent again.

import { $, el, fmt, isNum, setText } from './format.js';

const NEEDS_TOKEN = 'This dashboard needs its token.';

let pending = null;   // the request waiting for a token
const loginListeners = [];

// Calls `listener` after each accepted token.
export function onLogin(listener) {
  loginListeners.push(listener);
}

function showResult(kind, text) {
  const result = $('control-result');
  result.dataset.kind = kind;
  setText(result, text);
}

// What a stop did to the vendor batches in flight (batch mode), as
// `coordinator ctl stop` says it: cancelled, already paid for, still
// cancelling.
function batchesStopped(reply) {
  const all = Array.isArray(reply.batches_stopped) ? reply.batches_stopped : [];
  const sum = (k) => all.reduce((t, b) => t + (isNum(b[k]) ? b[k] : 0), 0);
  const cancelled = sum('cancelled');
  const unfinished = sum('unfinished');
  if (cancelled + sum('answers') + unfinished === 0) return '';
  const count = (n, one, many) => `${fmt.int(n)} ${n === 1 ? one : many}`;
  const still = unfinished > 0 ? ` ${fmt.int(unfinished)} still cancelling; their answers are published once they end.` : '';
  return ` Cancelled ${count(cancelled, 'vendor batch', 'vendor batches')}: `
    + `${count(sum('answers'), 'answer', 'answers')} already paid for (${fmt.usd(sum('cost_usd'))}), kept.${still}`;
}

function describe(path, reply) {
  if (path === 'api/start') {
    const resumed = reply.resumed ? `, resuming ${fmt.int(reply.known_items)} known items` : '';
    return `Started run ${reply.run_id} on “${reply.topic}”${resumed}. Output: ${reply.output_dir}`;
  }
  if (path === 'api/stop') {
    const silent = Array.isArray(reply.workers_unresponsive) && reply.workers_unresponsive.length
      ? ` Workers that did not confirm: ${reply.workers_unresponsive.join(', ')}.`
      : '';
    return `Stopped run ${reply.run_id} (${reply.stop_reason}) with ${fmt.int(reply.unique)} unique items.${silent}${batchesStopped(reply)}`;
  }
  if (path === 'api/weights') {
    const list = Object.entries(reply.weights || {})
      .map(([name, w]) => `${name} ${fmt.weight(w)}`)
      .join(', ');
    const mode = reply.manual ? 'Weights set by hand' : 'Weights learned from yield again';
    return `${mode}: ${list || 'none yet'} (version ${fmt.int(reply.version)}).`;
  }
  return 'OK';
}

async function send(path, body) {
  const buttons = document.querySelectorAll('.controls button, .weights-card button');
  buttons.forEach((b) => { b.disabled = true; });
  showResult('pending', 'Waiting for the coordinator…');
  try {
    const headers = {};
    const init = { method: 'POST', headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
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
    if (response.status === 401) {
      pending = { path, body };
      askToken(reply && typeof reply.error === 'string' ? reply.error : NEEDS_TOKEN);
      showResult('error', NEEDS_TOKEN);
      return null;
    }
    if (reply && reply.ok === true) {
      showResult('ok', describe(path, reply));
      return reply;
    }
    if (reply && typeof reply.error === 'string') showResult('error', reply.error);
    else showResult('error', `HTTP ${response.status}: ${text}`);
  } catch (err) {
    showResult('error', `Could not reach the dashboard: ${err.message}`);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
  return null;
}

export function askToken(message) {
  const form = $('token-form');
  setText($('token-message'), message);
  form.hidden = false;
  form.elements.token.value = '';
  form.elements.token.focus();
}

async function login(value) {
  const form = $('token-form');
  let response;
  try {
    response = await fetch('api/login', {
      method: 'POST',
      headers: { authorization: `Bearer ${value}` },
    });
  } catch (err) {
    showResult('error', `Could not reach the dashboard: ${err.message}`);
    return;
  }
  if (response.status === 401) {
    showResult('error', 'The token was refused.');
    askToken('The token was refused: enter the dashboard\'s --token.');
    return;
  }
  if (!response.ok) {
    showResult('error', `HTTP ${response.status}: ${await response.text()}`);
    return;
  }
  form.hidden = true;
  form.elements.token.value = '';
  loginListeners.forEach((listener) => listener());
  const retry = pending;
  pending = null;
  if (retry) send(retry.path, retry.body);
  else showResult('ok', 'Token accepted.');
}

function readNumber(form, name, integer) {
  const raw = form.elements[name].value.trim();
  if (raw === '') return undefined;
  return integer ? Number(raw) : Number.parseFloat(raw);
}

function startRequest(form) {
  const request = { topic: form.elements.topic.value.trim() };
  const fields = [
    ['target', true],
    ['budget_usd', false],
    ['max_duration_s', true],
    ['min_yield_per_1k_tokens', false],
  ];
  for (const [name, integer] of fields) {
    const value = readNumber(form, name, integer);
    if (value !== undefined) request[name] = value;
  }
  const coveragePct = readNumber(form, 'min_coverage', false);
  if (coveragePct !== undefined) request.min_coverage = coveragePct / 100;
  request.strategies = {
    weights: form.elements.strategy_weights.checked,
    partitions: form.elements.strategy_partitions.checked,
    avoid: form.elements.strategy_avoid.checked,
  };
  return request;
}

// ---- weights override ---------------------------------------------------

class Weights {
  constructor() {
    this.form = $('weights-form');
    this.fields = $('weights-fields');
    this.names = '';
    this.dirty = false;   // the operator is typing: don't overwrite
    this.form.addEventListener('input', () => { this.dirty = true; });
    this.form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const weights = {};
      for (const input of this.fields.querySelectorAll('input')) {
        const raw = input.value.trim();
        if (raw !== '') weights[input.dataset.provider] = Number.parseFloat(raw);
      }
      if (await send('api/weights', { weights })) this.dirty = false;
    });
    $('weights-clear').addEventListener('click', async () => {
      if (await send('api/weights', { clear: true })) this.dirty = false;
    });
  }

  update(snapshot) {
    const weights = snapshot.weights || {};
    const names = [...new Set([...Object.keys(snapshot.providers || {}), ...Object.keys(weights)])].sort();
    const key = JSON.stringify(names);
    if (key !== this.names) {
      this.names = key;
      this.dirty = false;
      this.fields.replaceChildren(...names.map((name) => {
        const label = el('label', null, 'weight-field');
        label.append(el('span', name, 'name'));
        const input = el('input');
        input.type = 'number';
        input.min = '0';
        input.step = '0.05';
        input.dataset.provider = name;
        input.setAttribute('aria-label', `weight of ${name}`);
        label.append(input);
        return label;
      }));
    }
    if (!this.dirty) {
      for (const input of this.fields.querySelectorAll('input')) {
        const w = weights[input.dataset.provider];
        const value = isNum(w) ? String(Math.round(w * 1000) / 1000) : '';
        if (document.activeElement !== input && input.value !== value) input.value = value;
      }
    }
    const mode = snapshot.weights_manual ? 'set by hand' : 'learned from yield';
    setText($('weights-mode'), names.length
      ? `${mode} · version ${fmt.int(snapshot.weights_version)}`
      : 'no provider known yet');
    $('weights-clear').disabled = !snapshot.weights_manual;
    $('weights-apply').disabled = names.length === 0;
  }
}

export function setupControls() {
  $('start-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    send('api/start', startRequest(ev.currentTarget));
  });
  $('stop').addEventListener('click', () => send('api/stop'));
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = ev.currentTarget.elements.token.value.trim();
    if (value) login(value);
  });
  return new Weights();
}
