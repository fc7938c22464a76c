// Settings → Integrations → Cal.com: the organization's own subscriber URL and
// secret, with the steps to paste them into Cal.com.
import { api } from './api.js';
import { copyButton, dialog, h, mount, time, toast } from './dom.js';

export async function calcomPage(main, session) {
  if (session.kind === 'portal') {
    mount(main, h('h1', {}, 'Cal.com'),
      h('p', { class: 'muted' }, 'Integrations are managed with an API key of your organization, not through a dashboard link. Ask whoever gave you this link.'));
    return;
  }
  const status = await api.calcom();
  let current = status.connected ? status : null;
  const result = h('div', { id: 'calcom-result' });
  const statusLine = h('p', { id: 'calcom-status', role: 'status' }, current
    ? ['Connected since ', time(current.created_at), '. The URL and secret were shown when they were made; replace them if you no longer have them.']
    : 'Not connected yet.');
  const connect = session.read_only ? null : h('button', {
    type: 'button', class: 'btn btn-primary', id: 'connect-calcom', onclick: async () => {
      if (current) {
        const choice = await dialog({
          title: 'Replace the Cal.com subscriber URL?',
          body: [h('p', {}, 'A new URL and secret are made; the current URL stops working at once, so paste the new ones into Cal.com right away.')],
          buttons: [{ label: 'Cancel', value: 'cancel' }, { label: 'Replace', class: 'btn-primary', value: 'replace' }],
        });
        if (choice !== 'replace') return;
      }
      try {
        const created = await api.connectCalcom();
        current = created;
        showCredentials(result, created);
        mount(statusLine, 'Connected just now. Paste the URL and secret below into Cal.com.');
        connect.textContent = 'Replace URL and secret';
      } catch (e) { toast(e.message); }
    },
  }, current ? 'Replace URL and secret' : 'Connect Cal.com');
  mount(main,
    h('nav', { 'aria-label': 'Breadcrumb' }, h('ol', { class: 'breadcrumb' },
      h('li', {}, 'Settings'), h('li', {}, 'Integrations'), h('li', { 'aria-current': 'page' }, 'Cal.com'))),
    h('div', { class: 'page-head' }, h('h1', {}, 'Cal.com'), h('div', { class: 'actions' }, connect)),
    h('div', { class: 'card' },
      h('p', {}, 'Connect Cal.com and every booking made, moved or cancelled there becomes a booking.created, booking.rescheduled or booking.cancelled event of your organization, sent to your webhooks.'),
      statusLine,
      result));
}

function showCredentials(el, c) {
  mount(el,
    h('h2', {}, 'Your subscriber URL and secret'),
    h('p', {}, 'Copy both now: they are shown this once.'),
    h('div', { class: 'field' }, h('label', {}, 'Subscriber URL'),
      h('div', { class: 'secret-box' }, h('code', { id: 'calcom-url' }, c.subscriber_url), copyButton(() => c.subscriber_url))),
    h('div', { class: 'field' }, h('label', {}, 'Secret'),
      h('div', { class: 'secret-box' }, h('code', { id: 'calcom-secret' }, c.secret), copyButton(() => c.secret))),
    h('h3', {}, 'In Cal.com'),
    h('ol', {},
      h('li', {}, 'Open Settings → Developer → Webhooks and choose New.'),
      h('li', {}, 'Paste the subscriber URL into Subscriber URL.'),
      h('li', {}, 'Paste the secret into Secret: Empfio accepts only bodies signed with it (X-Cal-Signature-256).'),
      h('li', {}, 'Select Booking Created, Booking Rescheduled and Booking Cancelled, then Create.'),
      h('li', {}, 'Use Ping test: Cal.com shows the answer, 200 {"status":"ok"}.')));
}
