// Events: what the organization received, with payloads and where each went.
import { api } from './api.js';
import { h, mount, pretty, statusBadge, time } from './dom.js';
import { pager } from './webhooks.js';

export async function eventList(main, session, cursor, type = '') {
  const [page, catalog] = await Promise.all([api.events({ cursor, event_type: type, limit: 50 }), api.eventTypes()]);
  const filter = h('select', { id: 'events-type' }, h('option', { value: '' }, 'Any event'),
    catalog.data.map((t) => h('option', { value: t.name, selected: t.name === type }, t.name)));
  filter.addEventListener('change', () => eventList(main, session, undefined, filter.value));
  const rows = page.data.map((e) => h('tr', {
    class: 'row-link', tabindex: 0, onclick: () => { location.hash = '#/events/' + e.id; },
    onkeydown: (ev) => { if (ev.key === 'Enter') location.hash = '#/events/' + e.id; },
  },
  h('td', { 'data-label': 'Event' }, h('a', { href: '#/events/' + e.id, class: 'mono' }, e.event)),
  h('td', { 'data-label': 'Source' }, e.source),
  h('td', { 'data-label': 'Received' }, time(e.received_at)),
  h('td', { 'data-label': 'Occurred' }, time(e.occurred_at)),
  h('td', { 'data-label': 'Id', class: 'mono small hide-sm' }, e.id)));
  mount(main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Events')),
    h('div', { class: 'card' },
      h('div', { class: 'toolbar' }, h('div', { class: 'field' }, h('label', { for: 'events-type' }, 'Event type'), filter)),
      page.data.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack', id: 'events-table' },
          h('thead', {}, h('tr', {}, ['Event', 'Source', 'Received ↓', 'Occurred (sender’s time)', 'Id'].map((t, i) => h('th', { scope: 'col', class: i === 4 ? 'hide-sm' : null }, t)))),
          h('tbody', {}, rows)))
        : h('p', { class: 'muted' }, 'No events yet. Events appear here as Empfio receives them from the agent and from Cal.com.'),
      pager(page, cursor, (c) => eventList(main, session, c, type))));
}

export async function eventPage(main, session, id) {
  const e = await api.event(id);
  const deliveries = e.deliveries || [];
  // The webhooks it went to, by id: their URL and description say which.
  const hooks = new Map();
  await Promise.all([...new Set(deliveries.map((d) => d.webhook_id))].map((wid) =>
    api.webhook(wid).then((w) => hooks.set(wid, w)).catch(() => {})));
  mount(main,
    h('nav', { 'aria-label': 'Breadcrumb' }, h('ol', { class: 'breadcrumb' }, h('li', {}, h('a', { href: '#/events' }, 'Events')), h('li', { 'aria-current': 'page' }, e.event))),
    h('div', { class: 'page-head' }, h('h1', { class: 'mono' }, e.event)),
    h('div', { class: 'card' },
      h('dl', { class: 'kv' },
        h('dt', {}, 'Id'), h('dd', { class: 'mono' }, e.id),
        h('dt', {}, 'Source'), h('dd', {}, e.source),
        e.external_id ? [h('dt', {}, 'Sender’s id'), h('dd', { class: 'mono' }, e.external_id)] : null,
        h('dt', {}, 'Occurred'), h('dd', {}, time(e.occurred_at)),
        h('dt', {}, 'Received'), h('dd', {}, time(e.received_at))),
      h('h2', {}, 'Data'),
      h('pre', { class: 'code', 'aria-label': 'Data', tabindex: 0 }, pretty(e.data))),
    h('div', { class: 'card' },
      h('h2', {}, 'Sent to'),
      deliveries.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
          h('thead', {}, h('tr', {}, ['Webhook', 'Status', 'Attempts'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, deliveries.map((d) => h('tr', {},
            h('td', { 'data-label': 'Webhook' }, webhookName(hooks.get(d.webhook_id), d.webhook_id)),
            h('td', { 'data-label': 'Status' }, statusBadge(d.status)),
            h('td', { 'data-label': 'Attempts' }, String(d.attempts)))))))
        : h('p', { class: 'muted' }, 'No webhook was subscribed to this event when it arrived.')));
}

// webhookName shows a webhook by its URL and description (its id when it
// could not be read).
function webhookName(w, id) {
  if (!w) return h('a', { href: '#/webhooks/' + id, class: 'mono' }, id);
  return h('div', {}, h('a', { href: '#/webhooks/' + id, class: 'mono break', 'data-webhook-url': '' }, w.url),
    w.description ? h('div', { class: 'small muted break' }, w.description) : null);
}
