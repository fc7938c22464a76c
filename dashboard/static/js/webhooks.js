// Settings → Integrations → Webhooks: the organization's endpoints.
import { api } from './api.js';
import { h, mount, statusBadge, subscriptionChips, time } from './dom.js';
import { sparkline } from './charts.js';

export function breadcrumb(...tail) {
  return h('nav', { 'aria-label': 'Breadcrumb' }, h('ol', { class: 'breadcrumb' },
    h('li', {}, 'Settings'), h('li', {}, 'Integrations'),
    h('li', {}, tail.length ? h('a', { href: '#/webhooks' }, 'Webhooks') : h('span', { 'aria-current': 'page' }, 'Webhooks')),
    tail.map((t) => h('li', {}, t))));
}

export async function webhookList(main, session, cursor) {
  const page = await api.webhooks(cursor);
  const canEdit = !session.read_only;
  const add = canEdit ? h('a', { class: 'btn btn-primary', href: '#/webhooks/new', id: 'add-webhook' }, 'Add webhook') : null;
  if (!page.data.length && !cursor) {
    mount(main, breadcrumb(), h('div', { class: 'page-head' }, h('h1', {}, 'Webhooks')),
      h('div', { class: 'card empty', id: 'webhooks-empty' },
        h('h2', {}, 'No webhooks yet'),
        h('p', {}, 'A webhook sends a signed HTTPS POST to your server the moment something happens in Empfio — a lead is captured, a booking is made, a conversation is escalated — so you never have to poll.'),
        add || h('p', { class: 'muted' }, 'This view is read-only.')));
    return;
  }
  const rows = page.data.map((w) => h('tr', {
    class: 'row-link', tabindex: 0, 'data-id': w.id,
    onclick: () => { location.hash = '#/webhooks/' + w.id; },
    onkeydown: (ev) => { if (ev.key === 'Enter') location.hash = '#/webhooks/' + w.id; },
  },
  h('td', { 'data-label': 'Endpoint' },
    h('a', { href: '#/webhooks/' + w.id, class: 'break mono' }, w.url),
    w.description ? h('div', { class: 'muted small break' }, w.description) : null),
  h('td', { 'data-label': 'Events' }, subscriptionChips(w.events)),
  h('td', { 'data-label': 'Status' }, endpointStatus(w)),
  h('td', { 'data-label': 'Last delivery' }, lastDelivery(w.stats)),
  h('td', { 'data-label': 'Success (24 h)' }, successRate(w.stats)),
  h('td', { 'data-label': 'Last 24 h' }, sparkline(w.id))));
  mount(main, breadcrumb(),
    h('div', { class: 'page-head' }, h('h1', {}, 'Webhooks'), h('div', { class: 'actions' }, add)),
    h('div', { class: 'card' },
      h('div', { class: 'table-wrap' }, h('table', { class: 'stack', id: 'webhooks-table' },
        h('thead', {}, h('tr', {}, ['Endpoint', 'Events', 'Status', 'Last delivery', 'Success (24 h)', 'Last 24 h'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows))),
      pager(page, cursor, (c) => webhookList(main, session, c))));
}

export function endpointStatus(w) {
  const held = w.health && w.health.held ? h('div', { class: 'small muted' }, `${w.health.held} held`) : null;
  if (w.enabled && w.health && w.health.state !== 'closed') {
    return h('div', {}, h('span', { class: 'badge badge-warn', title: 'Its circuit is open: deliveries wait and are probed now and then' }, 'Paused: failing'), held);
  }
  if (w.enabled && pingFailed(w)) {
    return h('div', {}, h('span', { class: 'badge badge-ok' }, 'Enabled'), ' ',
      h('span', { class: 'badge badge-warn', 'data-ping-failed': '' }, 'Last ping failed'),
      h('div', { class: 'small muted break' }, w.last_ping_error, ' (', time(w.last_ping_at, { relative: true }), ')'));
  }
  if (w.enabled) return h('span', { class: 'badge badge-ok' }, 'Enabled');
  return h('div', {}, h('span', { class: 'badge badge-bad' }, 'Disabled'),
    w.disabled_reason ? h('div', { class: 'small muted break' }, w.disabled_reason) : null, held);
}

// pingFailed: the endpoint's last ping failed, and no delivery has succeeded
// since (which would say more than the ping did).
function pingFailed(w) {
  if (!w.last_ping_error || !w.last_ping_at) return false;
  const st = w.stats;
  return !(st && st.last_delivery_status === 'succeeded' && st.last_delivery_at && new Date(st.last_delivery_at) > new Date(w.last_ping_at));
}

function lastDelivery(stats) {
  if (!stats || !stats.last_delivery_status) return h('span', { class: 'muted' }, 'None yet');
  return h('div', {}, statusBadge(stats.last_delivery_status), ' ', h('span', { class: 'small muted' }, time(stats.last_delivery_at, { relative: true })));
}

function successRate(stats) {
  if (!stats || stats.success_rate_24h === null || stats.success_rate_24h === undefined) return h('span', { class: 'muted' }, '—');
  const pct = Math.round(stats.success_rate_24h * 1000) / 10;
  const cls = pct >= 99 ? 'badge-ok' : pct >= 90 ? 'badge-warn' : 'badge-bad';
  return h('span', { class: 'badge ' + cls, title: `${stats.deliveries_24h} deliveries attempted in the last 24 hours` }, pct + ' %');
}

// pager offers the next page of a cursor-paginated list, and the first again.
export function pager(page, cursor, go) {
  if (!page.next_cursor && !cursor) return null;
  return h('div', { class: 'pager' },
    cursor ? h('button', { type: 'button', class: 'btn btn-small', onclick: () => go(undefined) }, 'First page') : null,
    page.next_cursor ? h('button', { type: 'button', class: 'btn btn-small', onclick: () => go(page.next_cursor) }, 'Next page') : null);
}
