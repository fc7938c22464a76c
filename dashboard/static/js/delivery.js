// One delivery, as GitHub's "Recent Deliveries" shows it: the request every
// attempt sends, then each attempt with its answer, and Retry.
import { api } from './api.js';
import { h, mount, pretty, statusBadge, time, toast } from './dom.js';

// deliveryPanel fills el with delivery id and returns a refresh function.
export async function deliveryPanel(el, session, id, onChange) {
  const d = await api.delivery(id);
  render(el, session, d, onChange);
  return d;
}

function render(el, session, d, onChange) {
  const retry = session.read_only ? null : h('button', {
    type: 'button', class: 'btn btn-small', 'data-action': 'retry', onclick: async (ev) => {
      ev.currentTarget.disabled = true;
      try {
        await api.retry(d.id);
        toast('Retry queued: a new attempt is on its way.');
        onChange && onChange();
      } catch (e) {
        toast('Retry failed: ' + e.message);
        ev.currentTarget.disabled = false;
      }
    },
  }, 'Retry');
  const req = d.request;
  mount(el, h('div', { class: 'delivery-panel', 'data-delivery': d.id },
    h('div', { class: 'page-head' },
      h('div', {},
        h('h3', {}, 'Delivery ', h('span', { class: 'mono small' }, d.id)),
        h('dl', { class: 'kv small' },
          h('dt', {}, 'Status'), h('dd', {}, statusBadge(d.status)),
          h('dt', {}, 'Event'), h('dd', {}, h('a', { href: '#/events/' + d.event_id, class: 'mono' }, d.event_type), ' ', h('span', { class: 'muted mono' }, d.event_id)),
          h('dt', {}, 'Created'), h('dd', {}, time(d.created_at)),
          d.status === 'retrying' || d.status === 'pending'
            ? [h('dt', {}, 'Next attempt'), h('dd', { 'data-next-attempt': '' }, d.next_attempt_at ? [time(d.next_attempt_at), ' (', time(d.next_attempt_at, { relative: true }), ')'] : 'as soon as a worker is free')]
            : null,
          d.completed_at ? [h('dt', {}, 'Finished'), h('dd', {}, time(d.completed_at))] : null,
          d.ordering_key ? [h('dt', {}, 'Ordering key'), h('dd', { class: 'mono' }, d.ordering_key)] : null),
        d.waiting_for ? h('p', { class: 'notice', 'data-waiting-for': d.waiting_for }, 'Waiting for ',
          h('button', { type: 'button', class: 'link mono', 'data-action': 'open-waiting-for',
            onclick: () => deliveryPanel(el, session, d.waiting_for, onChange).catch((e) => toast(e.message)) }, d.waiting_for),
          ' of the same key: this webhook delivers in order, so this delivery goes once that one has succeeded or failed for good.') : null),
      h('div', { class: 'actions' }, retry)),
    h('h3', {}, 'Request'),
    h('p', { class: 'mono small break' }, req.method + ' ' + req.url),
    h('div', { class: 'table-wrap' }, h('table', { class: 'small' }, h('tbody', {},
      Object.entries(req.headers).sort().map(([k, v]) => h('tr', {}, h('th', { scope: 'row', class: 'mono' }, k), h('td', { class: 'mono break' }, v))),
      h('tr', {}, h('th', { scope: 'row', class: 'mono' }, 'X-Empfio-Timestamp, X-Empfio-Signature, webhook-timestamp, webhook-signature'),
        h('td', { class: 'muted' }, 'computed at each attempt: the unix time it started, and the HMAC-SHA256 signatures over the body'))))),
    h('pre', { class: 'code', 'aria-label': 'Request body', tabindex: 0 }, pretty(req.body)),
    h('h3', {}, `Attempts (${d.attempts})`),
    d.attempt_log && d.attempt_log.length ? attemptsTable(d.attempt_log) : h('p', { class: 'muted' }, 'No attempt yet.')));
}

function attemptsTable(attempts) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'attempts stack' },
    h('thead', {}, h('tr', {}, ['#', 'Started', 'Answer', 'Latency', 'Response'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, [...attempts].reverse().map((a) => h('tr', { 'data-attempt': a.number },
      h('td', { 'data-label': '#' }, a.number),
      h('td', { 'data-label': 'Started' }, time(a.started_at)),
      h('td', { 'data-label': 'Answer' }, a.status_code
        ? h('span', { class: 'badge ' + (a.status_code < 300 ? 'badge-ok' : 'badge-bad') }, String(a.status_code))
        : h('span', { class: 'badge badge-bad' }, 'no answer'),
      a.error ? h('div', { class: 'small break', style: null }, a.error) : null),
      h('td', { 'data-label': 'Latency' }, a.duration_ms + ' ms'),
      h('td', { 'data-label': 'Response' }, a.response_body
        ? h('details', {}, h('summary', {}, 'Body (' + a.response_body.length + ' chars)'), h('pre', { class: 'code', 'aria-label': 'Response body', tabindex: 0 }, pretty(a.response_body)))
        : h('span', { class: 'muted' }, 'empty'),
      a.response_headers ? h('details', { 'data-response-headers': '' }, h('summary', {}, `Headers (${Object.keys(a.response_headers).length})`),
        h('table', { class: 'small' }, h('tbody', {}, Object.entries(a.response_headers).sort().map(([k, v]) =>
          h('tr', {}, h('th', { scope: 'row', class: 'mono' }, k), h('td', { class: 'mono break' }, v)))))) : null))))));
}
