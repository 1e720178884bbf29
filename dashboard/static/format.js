// igentai dashboard: number formatting and the few DOM helpers every part of
// the page uses.
//
// Items, topics, provider names and errors are text from LLMs, config files
// and the network: they are only ever written with textContent (here, in
// el() and setText()), never parsed as HTML.

export const DASH = '–';

export const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

const intFmt = new Intl.NumberFormat('en-US');
const compactFmt = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

export const fmt = {
  int: (n) => (isNum(n) ? intFmt.format(Math.round(n)) : DASH),
  compact: (n) => (isNum(n) ? (Math.abs(n) < 10000 ? intFmt.format(Math.round(n)) : compactFmt.format(n)) : DASH),
  pct: (r) => (isNum(r) ? `${(r * 100).toFixed(r >= 0.995 || r === 0 ? 0 : 1)}%` : DASH),
  rate: (x) => (isNum(x) ? (x >= 100 ? intFmt.format(Math.round(x)) : x.toFixed(1)) : DASH),
  usd: (x) => {
    if (!isNum(x)) return DASH;
    if (x === 0) return '$0';
    if (x < 0.01) return `$${x.toFixed(4)}`;
    return `$${x.toFixed(2)}`;
  },
  weight: (w) => (isNum(w) ? w.toFixed(2) : DASH),
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
  clock: (ms) => (isNum(ms) ? new Date(ms).toLocaleTimeString() : DASH),
};

// An element with optional text (as text) and class.
export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function setText(node, text) {
  if (!node) return;
  const value = text === undefined || text === null ? '' : String(text);
  if (node.textContent !== value) node.textContent = value;
}

export const $ = (id) => document.getElementById(id);

// A share in [0, 1] as the width of a bar's fill; hidden when unknown.
export function setBar(bar, share) {
  if (!bar) return;
  const known = isNum(share);
  bar.hidden = !known;
  if (!known) return;
  const fill = bar.firstElementChild;
  const pct = Math.max(0, Math.min(1, share)) * 100;
  fill.style.width = `${pct.toFixed(1)}%`;
  bar.dataset.full = share >= 1 ? 'yes' : 'no';
}

// Reads a CSS custom property of the page (colours follow light/dark mode).
export function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}
