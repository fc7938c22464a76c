// The dashboard's shell: sign-in, the session, the router and the outage banner.
// Routes live in the URL's fragment (#/webhooks/…), so the files are static.
import { api, credential, on } from './api.js';
import { h, leave, mount } from './dom.js';
import { linkExpired, signIn } from './signin.js';
import { webhookList } from './webhooks.js';
import { webhookForm } from './webhook_form.js';
import { webhookPage } from './webhook.js';
import { eventList, eventPage } from './events.js';
import { calcomPage } from './calcom.js';
import { auditPage } from './audit.js';

const main = document.getElementById('main');
const banner = document.getElementById('banner');

// session is what GET /session said of the credential.
export const session = { current: null };

// Each view renders into a page element of its own navigation: when the user
// moves on before a view's data arrived, its late render lands in a page that
// is no longer shown, never over the next one.
const routes = [
  [/^#\/webhooks\/new$/, (m, page) => webhookForm(page, session.current)],
  [/^#\/webhooks\/([0-9a-f-]{36})$/, (m, page) => webhookPage(page, session.current, m[1])],
  [/^#\/webhooks$/, (m, page) => webhookList(page, session.current)],
  [/^#\/events\/([0-9a-f-]{36})$/, (m, page) => eventPage(page, session.current, m[1])],
  [/^#\/events$/, (m, page) => eventList(page, session.current)],
  [/^#\/integrations\/calcom$/, (m, page) => calcomPage(page, session.current)],
  [/^#\/audit$/, (m, page) => auditPage(page, session.current)],
];

async function route() {
  leave();
  if (!session.current) return;
  const hash = location.hash || '#/webhooks';
  for (const [re, view] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    markNav(hash);
    const page = h('div', { class: 'page' }, h('p', { class: 'loading' }, 'Loading…'));
    mount(main, page);
    try {
      await view(m, page);
    } catch (e) {
      if (page.isConnected) showError(e, page);
    }
    return;
  }
  location.replace('#/webhooks');
}

function showError(e, into = main) {
  if (e.status === 401) return; // the sign-in page is on its way
  const text = e.status === 404 ? 'This page does not exist, or it belongs to another organization.' : e.message;
  mount(into, h('div', { class: 'card' }, h('h1', {}, e.status === 404 ? 'Not found' : 'Something went wrong'),
    h('p', {}, text), h('p', {}, h('a', { href: '#/webhooks' }, 'Back to webhooks'))));
}

function markNav(hash) {
  document.querySelectorAll('[data-nav]').forEach((a) => {
    if (hash.startsWith('#/' + a.dataset.nav)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

// start signs in with what the page was opened with: a portal link's token (in
// the fragment, moved out of the address bar at once), else the credential of
// this tab's session.
async function start() {
  const m = location.hash.match(/^#portal=([A-Za-z0-9_]+)$/);
  if (m) {
    credential.set(m[1]);
    history.replaceState(null, '', location.pathname + '#/webhooks');
  }
  if (!credential.get()) return showSignIn();
  try {
    await enter();
  } catch (e) {
    if (e.status !== 401) showError(e);
  }
}

async function enter() {
  session.current = await api.session();
  const s = session.current;
  document.getElementById('org-name').textContent = s.organization.name;
  document.getElementById('read-only').hidden = !s.read_only;
  document.getElementById('nav').hidden = false;
  document.getElementById('account').hidden = false;
  document.getElementById('sign-out').hidden = s.kind === 'portal';
  // Integrations are for API keys: a dashboard link does not manage them.
  document.querySelector('a[data-nav=integrations]').hidden = s.kind === 'portal';
  document.querySelector('a[data-nav=audit]').hidden = s.kind === 'portal'; // the audit log is for API keys

  if (!location.hash.startsWith('#/')) location.replace('#/webhooks');
  await route();
}

function showSignIn(message, typed) {
  leave();
  session.current = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('account').hidden = true;
  signIn(main, message, async (token) => {
    credential.set(token);
    await enter();
  }, typed);
}

function signOut() {
  credential.clear();
  history.replaceState(null, '', location.pathname);
  showSignIn('You are signed out.');
}

// A 401 anywhere ends the session: back to sign-in, saying why.
on('unauthorized', () => {
  const token = credential.get() || '';
  const wasSignedIn = !!session.current;
  credential.clear();
  if (token.startsWith('emps_')) {
    leave();
    session.current = null;
    document.getElementById('nav').hidden = true;
    document.getElementById('account').hidden = true;
    linkExpired(main, () => showSignIn(null));
    return;
  }
  if (wasSignedIn) {
    showSignIn('Your API key is not valid any more (it may have been revoked). Sign in with a current key.');
  } else if (token) {
    showSignIn('That API key is not valid. Check it and try again.', token);
  } else {
    showSignIn(null);
  }
});
on('outage', (message) => { banner.textContent = message; banner.hidden = false; });
on('recovered', () => { banner.hidden = true; });

document.getElementById('sign-out').addEventListener('click', signOut);
window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#portal=')) { start(); return; }
  route();
});
start();
