// Settings → Audit log: who did what to the organization's webhooks, keys,
// links and integrations — and who looked at a secret — when, and from where.
import { api } from './api.js';
import { h, mount, time } from './dom.js';
import { pager } from './webhooks.js';

// What each action is, in words.
const actions = {
  'webhook.created': 'Webhook added',
  'webhook.updated': 'Webhook changed',
  'webhook.enabled': 'Webhook enabled',
  'webhook.disabled': 'Webhook disabled',
  'webhook.deleted': 'Webhook deleted',
  'webhook.secret_revealed': 'Signing secret revealed',
  'webhook.secret_rotated': 'Signing secret rotated',
  'webhook.replayed': 'Failed deliveries replayed',
  'delivery.retried': 'Delivery retried',
  'api_key.created': 'API key created',
  'api_key.revoked': 'API key revoked',
  'portal_session.created': 'Dashboard link created',
  'listen_session.created': 'Listen session started (CLI)',
  'calcom.connected': 'Cal.com connected',
  'organization.created': 'Organization created',
};

export async function auditPage(main, session, cursor, action = '') {
  if (session.kind === 'portal') {
    mount(main, h('h1', {}, 'Audit log'), h('p', { class: 'muted' }, 'The audit log is read with an API key of your organization, not through a dashboard link.'));
    return;
  }
  const page = await api.auditLog({ cursor, action, limit: 50 });
  const filter = h('select', { id: 'audit-action' }, h('option', { value: '' }, 'Any action'),
    Object.entries(actions).map(([value, label]) => h('option', { value, selected: value === action }, label)));
  filter.addEventListener('change', () => auditPage(main, session, undefined, filter.value));
  mount(main,
    h('nav', { 'aria-label': 'Breadcrumb' }, h('ol', { class: 'breadcrumb' }, h('li', {}, 'Settings'), h('li', { 'aria-current': 'page' }, 'Audit log'))),
    h('div', { class: 'page-head' }, h('h1', {}, 'Audit log')),
    h('div', { class: 'card' },
      h('p', { class: 'small muted' }, 'Every change to webhooks, API keys, dashboard links and integrations, and every time a signing secret was shown, with who did it and from where. Kept as long as the delivery history.'),
      h('div', { class: 'toolbar' }, h('div', { class: 'field' }, h('label', { for: 'audit-action' }, 'Action'), filter)),
      page.data.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack', id: 'audit-table' },
          h('thead', {}, h('tr', {}, ['When', 'What', 'Who', 'From', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, page.data.map((ev) => h('tr', { 'data-action': ev.action },
            h('td', { 'data-label': 'When' }, time(ev.created_at)),
            h('td', { 'data-label': 'What' }, actions[ev.action] || ev.action, ev.target_id ? target(ev) : null),
            h('td', { 'data-label': 'Who' }, ev.actor),
            h('td', { 'data-label': 'From', class: 'small' }, ev.ip || '—', ev.user_agent ? h('div', { class: 'muted break' }, ev.user_agent) : null),
            h('td', { 'data-label': 'Details', class: 'small mono break' }, ev.detail ? JSON.stringify(ev.detail) : '—'))))))
        : h('p', { class: 'muted', id: 'audit-empty' }, action ? 'Nothing of this kind was recorded.' : 'Nothing recorded yet.'),
      pager(page, cursor, (c) => auditPage(main, session, c, action))));
}

// target names what an entry is about, linked when it is a webhook still there.
function target(ev) {
  const id = ev.target_id;
  if (ev.target_type === 'webhook' && ev.action !== 'webhook.deleted') {
    return h('div', { class: 'small' }, h('a', { href: '#/webhooks/' + id, class: 'mono' }, id));
  }
  return h('div', { class: 'small muted mono' }, id);
}
