// A webhook's health as pictures, drawn as SVG from GET /webhooks/{id}/trends:
// deliveries per bucket by outcome, and its attempts' latency (p50, p95). No
// charting library: a few rectangles and lines.
import { api } from './api.js';
import { h, mount } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

// s builds an SVG element: s('rect', {x: 1}, child…).
function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

// The drawing's width in its own units: half on a phone, so that its words
// stay readable when the picture is scaled to the screen.
let W = 720;
const H = 150, LEFT = 44, RIGHT = 8, TOP = 10, BOTTOM = 22;

const label = (t, window) => window === '24h'
  ? t.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
  : t.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });

// frame draws the axes' words: the top value, zero, and the first and last
// bucket's time.
function frame(points, window, top, unit) {
  const first = new Date(points[0].start), last = new Date(points[points.length - 1].start);
  return [
    s('line', { x1: LEFT, y1: H - BOTTOM, x2: W - RIGHT, y2: H - BOTTOM, class: 'axis' }),
    s('text', { x: LEFT - 6, y: TOP + 8, 'text-anchor': 'end', class: 'tick' }, top + unit),
    s('text', { x: LEFT - 6, y: H - BOTTOM, 'text-anchor': 'end', class: 'tick' }, '0'),
    s('text', { x: LEFT, y: H - 6, class: 'tick' }, label(first, window)),
    s('text', { x: W - RIGHT, y: H - 6, 'text-anchor': 'end', class: 'tick' }, label(last, window) + (window === '24h' ? ' (now)' : '')),
  ];
}

// deliveriesChart stacks each bucket's succeeded, failed and open deliveries.
function deliveriesChart(t) {
  const p = t.points;
  const totals = p.map((x) => x.succeeded + x.failed + x.open);
  const max = Math.max(1, ...totals);
  const step = (W - LEFT - RIGHT) / p.length, bw = Math.max(1, step * 0.78);
  const y = (v) => (H - BOTTOM) - (v / max) * (H - BOTTOM - TOP);
  const bars = [];
  p.forEach((x, i) => {
    let base = 0;
    for (const [v, cls] of [[x.succeeded, 'bar-ok'], [x.failed, 'bar-bad'], [x.open, 'bar-open']]) {
      if (!v) continue;
      bars.push(s('rect', { x: (LEFT + i * step).toFixed(1), y: y(base + v).toFixed(1), width: bw.toFixed(1), height: (y(base) - y(base + v)).toFixed(1), class: cls },
        s('title', {}, `${label(new Date(x.start), t.window)}: ${v} ${cls === 'bar-ok' ? 'succeeded' : cls === 'bar-bad' ? 'failed' : 'open'}`)));
      base += v;
    }
  });
  const sum = (k) => p.reduce((a, x) => a + x[k], 0);
  const words = `Deliveries per ${t.bucket === '1h' ? 'hour' : '6 hours'} over the last ${t.window === '24h' ? '24 hours' : '7 days'}: ` +
    `${sum('succeeded')} succeeded, ${sum('failed')} failed, ${sum('open')} still open.`;
  return s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': words, class: 'chart', 'data-chart': 'deliveries' },
    frame(p, t.window, max, ''), bars,
    totals.every((v) => v === 0) ? s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'No deliveries in this period') : null);
}

// latencyChart draws the p50 and p95 of each bucket's attempts; a bucket
// without attempts breaks the line.
function latencyChart(t) {
  const p = t.points;
  const max = Math.max(1, ...p.map((x) => x.p95_ms || 0));
  const step = (W - LEFT - RIGHT) / p.length;
  const x = (i) => LEFT + i * step + step / 2;
  const y = (v) => (H - BOTTOM) - (v / max) * (H - BOTTOM - TOP);
  const line = (key, cls) => {
    const runs = [];
    let run = [];
    p.forEach((pt, i) => {
      if (pt[key] === null || pt[key] === undefined) { if (run.length) runs.push(run); run = []; return; }
      run.push(`${x(i).toFixed(1)},${y(pt[key]).toFixed(1)}`);
    });
    if (run.length) runs.push(run);
    return runs.map((r) => r.length === 1
      ? s('circle', { cx: r[0].split(',')[0], cy: r[0].split(',')[1], r: 2.5, class: cls })
      : s('polyline', { points: r.join(' '), class: cls }));
  };
  const tried = p.filter((pt) => pt.p50_ms !== null && pt.p50_ms !== undefined);
  const worst = tried.length ? Math.round(Math.max(...tried.map((pt) => pt.p95_ms))) : 0;
  const words = tried.length
    ? `Attempt latency over the last ${t.window === '24h' ? '24 hours' : '7 days'}: the slowest bucket's p95 was ${worst} ms.`
    : `No attempts over the last ${t.window === '24h' ? '24 hours' : '7 days'}.`;
  return s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': words, class: 'chart', 'data-chart': 'latency' },
    frame(p, t.window, Math.round(max), ' ms'), line('p95_ms', 'line-p95'), line('p50_ms', 'line-p50'),
    tried.length ? null : s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'No attempts in this period'));
}

// trendsCard is a webhook's charts, over 24 hours or 7 days.
export function trendsCard(id) {
  const body = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted small' }, 'Loading…'));
  let window = '24h';
  const buttons = ['24h', '7d'].map((w) => h('button', {
    type: 'button', class: 'btn btn-small', 'data-window': w, 'aria-pressed': String(w === window),
    onclick: () => { window = w; buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.window === w))); load(); },
  }, w === '24h' ? 'Last 24 hours' : 'Last 7 days'));
  const load = async () => {
    try {
      const t = await api.trends(id, window);
      W = matchMedia('(max-width: 640px)').matches ? 360 : 720;
      mount(body,
        h('h3', { class: 'chart-title' }, 'Deliveries'), deliveriesChart(t),
        h('p', { class: 'legend small' }, h('span', { class: 'key key-ok' }), 'succeeded ', h('span', { class: 'key key-bad' }), 'failed ',
          h('span', { class: 'key key-open' }), 'still open (pending, retrying or held)'),
        h('h3', { class: 'chart-title' }, 'Attempt latency'), latencyChart(t),
        h('p', { class: 'legend small' }, h('span', { class: 'key key-p50' }), 'median (p50) ', h('span', { class: 'key key-p95' }), 'p95'));
    } catch (e) {
      mount(body, h('p', { class: 'field-error' }, e.message));
    }
  };
  load();
  return h('section', { class: 'card', 'aria-labelledby': 'trends-h', id: 'trends' },
    h('div', { class: 'page-head' }, h('h2', { id: 'trends-h' }, 'Health'), h('div', { class: 'actions', role: 'group', 'aria-label': 'Period' }, buttons)),
    body);
}

// sparkline is a small picture of a webhook's last 24 hours: a bar an hour,
// red where deliveries failed.
export function sparkline(id) {
  const el = h('span', { class: 'sparkline', 'data-sparkline': id });
  api.trends(id, '24h').then((t) => {
    const p = t.points, w = 96, hh = 22, step = w / p.length;
    const max = Math.max(1, ...p.map((x) => x.succeeded + x.failed + x.open));
    const total = (k) => p.reduce((a, x) => a + x[k], 0);
    const bars = [];
    p.forEach((x, i) => {
      const n = x.succeeded + x.failed + x.open;
      if (!n) return;
      const height = Math.max(1.5, (n / max) * hh);
      bars.push(s('rect', { x: (i * step).toFixed(1), y: (hh - height).toFixed(1), width: Math.max(1, step - 1).toFixed(1), height: height.toFixed(1),
        class: x.failed ? 'bar-bad' : x.open ? 'bar-open' : 'bar-ok' }));
    });
    const words = total('succeeded') + total('failed') + total('open')
      ? `Last 24 hours: ${total('succeeded')} succeeded, ${total('failed')} failed, ${total('open')} open`
      : 'No deliveries in the last 24 hours';
    mount(el, s('svg', { viewBox: `0 0 ${w} ${hh}`, width: w, height: hh, role: 'img', 'aria-label': words },
      s('line', { x1: 0, y1: hh - 0.5, x2: w, y2: hh - 0.5, class: 'axis' }), bars));
  }).catch(() => mount(el, ''));
  return el;
}
