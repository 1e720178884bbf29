// igentai dashboard: the charts over time (unique items, rate, uniqueness,
// cost, weights per provider), drawn with the vendored uPlot.
//
// The page keeps the current run's points: the dashboard sends the run's
// history on connect and every snapshot after that adds one. Another run
// starts from an empty history. Memory stays bounded: past MAX_POINTS every
// other point is dropped.

import { cssVar, fmt, isNum } from './format.js';

const MAX_POINTS = 2400;
const HEIGHT = 170;
const PALETTE = ['#2f6fde', '#d9480f', '#2b8a3e', '#ae3ec9', '#e8a200', '#0c8599', '#c2255c', '#5c7cfa'];

// The numbers a point is made of, from a snapshot or a history frame.
export function pointOf(snapshot) {
  const t = snapshot.totals || {};
  return {
    ts_ms: snapshot.ts_ms,
    unique: t.unique,
    unique_per_min: t.unique_per_min,
    uniqueness_ratio: t.uniqueness_ratio,
    cost_usd: t.cost_usd,
    weights: snapshot.weights || {},
  };
}

const SIMPLE = [
  { id: 'chart-unique', key: 'unique', label: 'Unique items', value: fmt.int, axis: fmt.compact },
  { id: 'chart-rate', key: 'unique_per_min', label: 'New items / min', value: fmt.rate, axis: fmt.compact },
  { id: 'chart-ratio', key: 'uniqueness_ratio', label: 'Uniqueness', value: fmt.pct, axis: fmt.pct, max: 1 },
  { id: 'chart-cost', key: 'cost_usd', label: 'Cost', value: fmt.usd, axis: fmt.usd },
];

export class Charts {
  constructor() {
    this.points = [];
    this.runId = null;
    this.plots = new Map();     // container id → uPlot
    this.weightNames = '';      // the providers the weights chart was built for
    this.observer = new ResizeObserver((entries) => {
      for (const entry of entries) {
        const plot = this.plots.get(entry.target.id);
        const width = Math.floor(entry.contentRect.width);
        if (plot && width > 0 && width !== plot.width) plot.setSize({ width, height: HEIGHT });
      }
    });
  }

  // The run's history from the dashboard: merged with what the page has.
  history(runId, points) {
    if (!Array.isArray(points)) return;
    if (runId !== this.runId) {
      this.runId = runId;
      this.points = [];
    }
    const byTs = new Map();
    for (const p of this.points.concat(points)) if (p && isNum(p.ts_ms)) byTs.set(p.ts_ms, p);
    this.points = [...byTs.values()].sort((a, b) => a.ts_ms - b.ts_ms);
    this.thin();
    this.draw();
  }

  // One more snapshot.
  push(runId, snapshot) {
    if (runId !== this.runId) {
      this.runId = runId;
      this.points = [];
    }
    const point = pointOf(snapshot);
    const last = this.points[this.points.length - 1];
    if (!isNum(point.ts_ms) || (last && point.ts_ms <= last.ts_ms)) return;
    this.points.push(point);
    this.thin();
    this.draw();
  }

  thin() {
    if (this.points.length <= MAX_POINTS) return;
    this.points = this.points.filter((_, i) => i % 2 === 0 || i === this.points.length - 1);
  }

  draw() {
    if (typeof window.uPlot !== 'function') return;
    const xs = this.points.map((p) => p.ts_ms / 1000);
    for (const chart of SIMPLE) {
      const ys = this.points.map((p) => (isNum(p[chart.key]) ? p[chart.key] : null));
      this.plot(chart.id, () => this.simpleOptions(chart), [xs, ys]);
    }
    this.drawWeights(xs);
    const empty = this.points.length < 2;
    for (const node of document.querySelectorAll('.chart .empty-chart')) node.hidden = !empty;
  }

  drawWeights(xs) {
    const names = [...new Set(this.points.flatMap((p) => Object.keys(p.weights || {})))].sort();
    const key = JSON.stringify(names);
    if (key !== this.weightNames) {
      this.destroy('chart-weights');
      this.weightNames = key;
    }
    const data = [xs, ...names.map((name) => this.points.map((p) => {
      const w = p.weights ? p.weights[name] : undefined;
      return isNum(w) ? w : null;
    }))];
    this.plot('chart-weights', () => this.weightOptions(names), data);
  }

  plot(id, options, data) {
    const container = document.getElementById(id);
    if (!container) return;
    let plot = this.plots.get(id);
    if (!plot) {
      const opts = options();
      opts.width = Math.max(200, Math.floor(container.clientWidth));
      opts.height = HEIGHT;
      plot = new window.uPlot(opts, data, container);
      this.plots.set(id, plot);
      this.observer.observe(container);
      return;
    }
    plot.setData(data);
  }

  destroy(id) {
    const plot = this.plots.get(id);
    if (!plot) return;
    plot.destroy();
    this.plots.delete(id);
  }

  axes(format) {
    const muted = cssVar('--muted', '#69717d');
    const line = cssVar('--line', '#dfe3e8');
    const grid = { stroke: line, width: 1 };
    return [
      { stroke: muted, grid, ticks: grid, font: '11px system-ui, sans-serif' },
      {
        stroke: muted,
        grid,
        ticks: grid,
        size: 56,
        font: '11px system-ui, sans-serif',
        values: (u, values) => values.map(format),
      },
    ];
  }

  simpleOptions(chart) {
    const accent = cssVar('--accent', '#2f6fde');
    const fill = cssVar('--accent-fill', 'rgba(47,111,222,0.12)');
    return {
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true },
        y: chart.max ? { range: [0, chart.max] } : { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] },
      },
      axes: this.axes(chart.axis),
      series: [
        { value: (u, v) => (isNum(v) ? fmt.clock(v * 1000) : '') },
        {
          label: chart.label,
          stroke: accent,
          fill,
          width: 2,
          points: { show: false },
          value: (u, v) => chart.value(v),
          spanGaps: true,
        },
      ],
    };
  }

  weightOptions(names) {
    return {
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: this.axes(fmt.weight),
      series: [
        { value: (u, v) => (isNum(v) ? fmt.clock(v * 1000) : '') },
        ...names.map((name, i) => ({
          label: name,
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          points: { show: false },
          value: (u, v) => fmt.weight(v),
          spanGaps: true,
        })),
      ],
    };
  }
}
