// A webhook's page: its state and actions, its delivery log (refreshing itself),
// its settings and its signing secret.
import { api } from './api.js';
import { copyButton, dialog, fieldErrors, h, mount, onLeave, statusBadge, time, toast } from './dom.js';
import { deliveryPanel } from './delivery.js';
import { trendsCard } from './charts.js';
import { pingOutcome, settingsForm, showFormError } from './webhook_form.js';
import { breadcrumb, endpointStatus } from './webhooks.js';

// POLL is how often the delivery log refreshes while the page is open.
const POLL = 2000;

export async function webhookPage(main, session, id) {
  const [w, catalog] = await Promise.all([api.webhook(id), api.eventTypes()]);
  const ro = session.read_only;
  const testArea = h('div', { id: 'test-outcome' });
  const head = h('div', {});
  const notices = h('div', {});
  // The state shown above the log — the badge, the notices, Enable or
  // Disable — is read again with each refresh of the log, so it never tells
  // of a circuit that has closed since, or of deliveries no longer held.
  let shown = '';
  const showState = (w) => {
    const key = JSON.stringify([w.enabled, w.disabled_reason, w.health, w.last_ping_at, w.last_ping_error, w.stats && w.stats.last_delivery_status]);
    if (key === shown) return;
    shown = key;
    mount(head, h('div', { class: 'page-head' },
      h('div', {}, h('h1', { class: 'break mono', style: null }, w.url),
        w.description ? h('p', { class: 'muted' }, w.description) : null,
        endpointStatus(w)),
      h('div', { class: 'actions' }, ro ? [] : [
        h('button', { type: 'button', class: 'btn', id: 'send-test', onclick: () => sendTest(w, catalog.data, testArea, log) }, 'Send test event'),
        w.enabled
          ? h('button', { type: 'button', class: 'btn', id: 'disable', onclick: () => setEnabled(main, session, w, false) }, 'Disable')
          : h('button', { type: 'button', class: 'btn btn-primary', id: 'enable', onclick: () => setEnabled(main, session, w, true) }, 'Enable'),
        h('button', { type: 'button', class: 'btn btn-danger', id: 'delete', onclick: () => remove(w) }, 'Delete'),
      ])));
    mount(notices,
      w.enabled ? null : h('div', { class: 'notice notice-bad', id: 'disabled-notice' },
        h('strong', {}, 'This endpoint is disabled. '), w.disabled_reason || 'It was disabled by a user.',
        ' No new deliveries are made to it until it is enabled again.',
        w.health.held ? ` ${w.health.held} held deliveries wait for it.` : ''),
      w.enabled ? circuitNotice(w) : null);
  };
  const log = deliveryLog(session, w, catalog.data, async () => showState(await api.webhook(id)));
  showState(w);
  const panels = [['deliveries', 'Deliveries', [trendsCard(w.id), log.element]]];
  if (!ro) panels.push(['settings', 'Settings', settingsCard(session, catalog.data, w)], ['secret', 'Signing secret', secretCard(w)]);
  mount(main,
    breadcrumb(h('span', { 'aria-current': 'page', class: 'break' }, w.description || w.url)),
    head, notices,
    testArea,
    tabs(panels));
  await log.start();
}

// tabs shows one panel at a time under a row of tabs (the WAI-ARIA tabs
// pattern: arrow keys move between tabs, Tab enters the panel), so the page
// is as long as what the user looks at.
function tabs(panels) {
  const buttons = [], views = [];
  const select = (i, focus) => {
    buttons.forEach((b, j) => { b.setAttribute('aria-selected', String(i === j)); b.tabIndex = i === j ? 0 : -1; });
    views.forEach((v, j) => { v.hidden = i !== j; });
    if (focus) buttons[i].focus();
  };
  panels.forEach(([name, label, content], i) => {
    buttons.push(h('button', {
      type: 'button', role: 'tab', id: 'tab-' + name, 'aria-controls': 'panel-' + name, class: 'tab',
      onclick: () => select(i),
      onkeydown: (ev) => {
        const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: panels.length - 1 }[ev.key];
        if (to === undefined) return;
        ev.preventDefault();
        select((to + panels.length) % panels.length, true);
      },
    }, label));
    views.push(h('div', { role: 'tabpanel', id: 'panel-' + name, 'aria-labelledby': 'tab-' + name }, content));
  });
  select(0);
  return h('div', {}, h('div', { role: 'tablist', class: 'tabs', 'aria-label': 'Webhook' }, buttons), views);
}

// sendTest asks which event to send: a ping (answered at once), or the catalog
// example of a type the webhook receives, sent as a real delivery that the
// log then shows open.
async function sendTest(w, catalog, area, log) {
  const subscribed = (t) => w.events.includes('*') || w.events.includes(t.name) || w.events.includes(t.name.split('.')[0] + '.*');
  const types = catalog.filter((t) => t.name !== 'webhook.ping' && !t.name.startsWith('delivery.') && !t.name.startsWith('webhook.') && subscribed(t));
  const choice = h('select', { id: 'test-type' },
    h('option', { value: '' }, 'webhook.ping — a connectivity check, answered at once'),
    types.map((t) => h('option', { value: t.name }, `${t.name} — its catalog example, as a real delivery`)));
  const answer = await dialog({
    title: 'Send a test event',
    body: [h('p', {}, 'A test event is signed like every delivery. A ping only checks that the endpoint answers; an event type is sent as a real delivery: logged, and retried if it fails.'),
      h('div', { class: 'field' }, h('label', { for: 'test-type' }, 'Event'), choice)],
    buttons: [{ label: 'Cancel', value: 'cancel' }, { label: 'Send', class: 'btn-primary', value: 'send' }],
  });
  if (answer !== 'send') return;
  const eventType = choice.value;
  try {
    if (!eventType) {
      mount(area, h('div', { class: 'card' }, h('h2', {}, 'Test ping'), pingOutcome(await api.testWebhook(w.id))));
      return;
    }
    const sent = await api.testWebhook(w.id, eventType);
    mount(area, h('div', { class: 'notice', id: 'test-sent', role: 'status' }, `A ${eventType} test event is on its way as delivery `,
      h('span', { class: 'mono' }, sent.delivery_id), '. It is open in the log below.'));
    await log.show(sent.delivery_id);
  } catch (e) {
    toast(e.message);
  }
}

// circuitNotice explains an open circuit: why deliveries wait, and when the
// next probe goes.
function circuitNotice(w) {
  const hl = w.health;
  if (hl.state === 'closed') return null;
  return h('div', { class: 'notice notice-warn', id: 'circuit-notice' },
    h('strong', {}, 'Deliveries to this endpoint are paused. '),
    `It failed ${hl.consecutive_failures} times in a row`, hl.since ? [' (since ', time(hl.since), ')'] : null, '. ',
    hl.state === 'half_open'
      ? 'A probe, the oldest held delivery, is on its way now. '
      : ['The oldest held delivery is tried again ', hl.next_probe_at ? time(hl.next_probe_at, { relative: true }) : 'soon', '. '],
    hl.held === 1 ? '1 delivery is held' : `${hl.held} deliveries are held`,
    ': they spend no attempts and are sent in their original order once the endpoint answers again.');
}

async function setEnabled(main, session, w, enabled) {
  let replay = null;
  if (enabled) {
    const choice = h('select', { id: 'replay-choice', 'aria-describedby': 'replay-says' },
      h('option', { value: 'held' }, `Send what was held (${w.health.held})`),
      h('option', { value: 'held_and_failed' }, 'Send what was held, and once more what failed while it was failing or off'),
      h('option', { value: 'none' }, 'Send nothing from before: mark what was held as failed'));
    const says = h('p', { id: 'replay-says' });
    const explain = () => mount(says, {
      held: 'New events are delivered to it again, and the deliveries held while it was off are sent in their original order, at a gentle rate.',
      held_and_failed: 'New events are delivered to it again; the held deliveries, and once more those that failed while it was failing or off, are sent in their original order, at a gentle rate.',
      none: 'New events are delivered to it again. Nothing from before is sent: the held deliveries are marked failed.',
    }[choice.value]);
    choice.addEventListener('change', explain);
    explain();
    const answer = await dialog({
      title: 'Enable this endpoint?',
      body: [h('div', { class: 'field' }, h('label', { for: 'replay-choice' }, 'Deliveries from before'), choice), says],
      buttons: [{ label: 'Cancel', value: 'cancel' }, { label: 'Enable', class: 'btn-primary', value: 'enable' }],
    });
    if (answer !== 'enable') return;
    replay = choice.value;
  } else {
    const answer = await dialog({
      title: 'Disable this endpoint?',
      body: [h('p', {}, 'Empfio stops sending to'), h('p', { class: 'mono break' }, h('strong', {}, w.url)),
        h('p', {}, 'Events that arrive meanwhile are not delivered to it. When you enable it again you choose whether what it missed is sent.')],
      buttons: [{ label: 'Cancel', value: 'cancel' }, { label: 'Disable', class: 'btn-danger-solid', value: 'disable' }],
    });
    if (answer !== 'disable') return;
  }
  try {
    await api.updateWebhook(w.id, enabled ? { enabled, replay } : { enabled });
    toast(enabled ? 'Endpoint enabled.' : 'Endpoint disabled.');
    await webhookPage(main, session, w.id);
  } catch (e) {
    toast(e.message);
  }
}

async function remove(w) {
  const choice = await dialog({
    title: 'Delete this webhook?',
    body: [h('p', {}, 'Empfio stops sending events to'), h('p', { class: 'mono break' }, h('strong', {}, w.url)),
      h('p', {}, 'Its delivery log is deleted with it. This cannot be undone.')],
    buttons: [{ label: 'Cancel', value: 'cancel' }, { label: 'Delete webhook', class: 'btn-danger-solid', value: 'delete' }],
  });
  if (choice !== 'delete') return;
  try {
    await api.deleteWebhook(w.id);
    toast('Webhook deleted.');
    location.hash = '#/webhooks';
  } catch (e) {
    toast(e.message);
  }
}

function settingsCard(session, catalog, w) {
  const form = settingsForm(session, catalog, w, async (body, form, button) => {
    button.disabled = true;
    try {
      await api.updateWebhook(w.id, body);
      toast('Settings saved.');
      location.hash = '#/webhooks/' + w.id;
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    } catch (e) {
      showFormError(form, e);
    } finally {
      button.disabled = false;
    }
  });
  form.classList.remove('card');
  return h('section', { class: 'card', 'aria-labelledby': 'settings-h' }, h('h2', { id: 'settings-h' }, 'Settings'), form);
}

function secretCard(w) {
  const shown = h('code', { id: 'secret-value' }, '••••••••••••••••••••••••••••••••');
  let secret = null;
  const reveal = h('button', {
    type: 'button', class: 'btn btn-small', id: 'reveal-secret', onclick: async () => {
      try {
        const s = await api.secret(w.id);
        secret = s.secret;
        shown.textContent = secret;
        reveal.hidden = true;
        copy.hidden = false;
      } catch (e) { toast(e.message); }
    },
  }, 'Reveal');
  const copy = copyButton(() => secret);
  copy.hidden = true;
  const rotate = h('button', {
    type: 'button', class: 'btn btn-small', id: 'rotate-secret', onclick: async () => {
      const choice = await dialog({
        title: 'Rotate the signing secret?',
        body: [
          h('p', {}, 'A new secret is made. For the next 24 hours the current secret keeps signing: X-Empfio-Signature stays signed with it, and webhook-signature carries both. To miss nothing:'),
          h('ol', {},
            h('li', {}, 'Nothing to change at once: your receiver keeps verifying with the current secret.'),
            h('li', {}, 'Within 24 hours, make your receiver accept a delivery signed with either secret.'),
            h('li', {}, 'After 24 hours, only the new secret signs: remove the old one.')),
          h('p', {}, 'If the secret leaked, rotate at once: the old secret stops signing now, and your receiver refuses deliveries until it has the new one.'),
        ],
        buttons: [{ label: 'Cancel', value: 'cancel' }, { label: 'Rotate now (leaked)', value: 'now' },
          { label: 'Rotate with 24 h overlap', class: 'btn-primary', value: 'rotate' }],
      });
      if (choice !== 'rotate' && choice !== 'now') return;
      try {
        const s = await api.rotateSecret(w.id, choice === 'now' ? '0s' : '24h');
        secret = s.secret;
        shown.textContent = secret;
        reveal.hidden = true;
        copy.hidden = false;
        note.textContent = s.previous_secret_expires_at
          ? 'Rotated. The previous secret keeps signing until ' + new Date(s.previous_secret_expires_at).toLocaleString() + ': accept both until then.'
          : 'Rotated. Only the new secret signs from now on.';
        toast('Secret rotated.');
      } catch (e) { toast(e.message); }
    },
  }, 'Rotate');
  const note = h('p', { class: 'small muted', id: 'rotate-note', role: 'status' });
  return h('section', { class: 'card', 'aria-labelledby': 'secret-h' },
    h('h2', { id: 'secret-h' }, 'Signing secret'),
    h('p', { class: 'small' }, 'Verify each delivery: HMAC-SHA256 of the raw body keyed with this secret, hex-encoded, equals the X-Empfio-Signature header.'),
    h('div', { class: 'secret-box' }, shown, reveal, copy, rotate), note);
}

// deliveryLog is the endpoint's delivery log: filters, cursor pages, an
// expandable row per delivery, replay, and a refresh every POLL that keeps the
// page, the filters and the open rows as they are.
function deliveryLog(session, w, catalog, onRefresh) {
  const state = { status: '', event_type: '', event_id: '', since: '', until: '', cursor: undefined, open: new Set() };
  const status = h('select', { id: 'filter-status' }, ['', 'pending', 'retrying', 'held', 'succeeded', 'failed'].map((s) => h('option', { value: s }, s || 'Any status')));
  const type = h('select', { id: 'filter-type' }, h('option', { value: '' }, 'Any event'),
    catalog.map((t) => h('option', { value: t.name }, t.name)));
  const body = h('tbody', {});
  const empty = h('p', { class: 'muted', id: 'deliveries-empty', hidden: true });
  const filtered = () => !!(state.status || state.event_type || state.event_id || state.since || state.until);
  const pagerBox = h('div', { class: 'pager' });
  const rows = new Map(); // delivery id → {row, detail}
  let timer = null;
  let stopped = false;

  const load = async () => {
    const page = await api.deliveries(w.id, { status: state.status, event_type: state.event_type, event_id: state.event_id,
      since: state.since, until: state.until, cursor: state.cursor, limit: 25 });
    update(page);
  };
  const reload = async () => {
    state.open.clear();
    rows.clear();
    body.replaceChildren();
    await load();
  };
  const update = (page) => {
    const ids = page.data.map((d) => d.id);
    for (const [id, r] of rows) {
      if (!ids.includes(id)) { r.row.remove(); r.detail.remove(); rows.delete(id); state.open.delete(id); }
    }
    let prev = null;
    for (const d of page.data) {
      let r = rows.get(d.id);
      if (!r) {
        r = newRow(d);
        rows.set(d.id, r);
      }
      fillRow(r.row, d);
      // Move a row only when it is out of place: a moved node loses focus.
      if (prev && prev.detail.nextSibling !== r.row) prev.detail.after(r.row, r.detail);
      else if (!prev && body.firstChild !== r.row) body.prepend(r.row, r.detail);
      prev = r;
      if (state.open.has(d.id) && !['succeeded', 'failed'].includes(d.status) || r.stale) {
        r.stale = false;
        deliveryPanel(r.panel, session, d.id, refreshSoon).catch(() => {});
      }
    }
    empty.hidden = page.data.length > 0;
    empty.textContent = filtered()
      ? 'No delivery matches these filters. Clear them to see every delivery.'
      : 'No deliveries yet. Events this endpoint subscribes to appear here the moment they are sent.';
    pagerBox.replaceChildren(
      state.cursor ? h('button', { type: 'button', class: 'btn btn-small', onclick: () => { state.cursor = undefined; reload(); } }, 'Newest') : '',
      page.next_cursor ? h('button', { type: 'button', class: 'btn btn-small', onclick: () => { state.cursor = page.next_cursor; reload(); } }, 'Older') : '');
  };
  const newRow = (d) => {
    const panel = h('div', {});
    const detail = h('tr', { class: 'detail-row', hidden: true }, h('td', { colspan: 5 }, panel));
    const toggle = () => {
      const open = detail.hidden;
      detail.hidden = !open;
      const opener = row.querySelector('[data-open]');
      if (opener) opener.setAttribute('aria-expanded', String(open));
      if (open) {
        state.open.add(d.id);
        mount(panel, h('p', { class: 'delivery-panel muted' }, 'Loading…'));
        deliveryPanel(panel, session, d.id, refreshSoon).catch((e) => mount(panel, h('p', { class: 'delivery-panel field-error' }, e.message)));
      } else {
        state.open.delete(d.id);
      }
    };
    // The whole row opens it with a click; its button, with the keyboard
    // (its click reaches the row).
    const row = h('tr', { class: 'row-link', 'data-delivery-row': d.id, onclick: toggle });
    return { row, detail, panel };
  };
  const fillRow = (row, d) => {
    const key = [d.status, d.attempts, d.last_status_code, d.updated_at].join('|');
    if (row.dataset.key === key) return;
    if (row.dataset.key) { const r = rows.get(d.id); if (r && state.open.has(d.id)) r.stale = true; }
    row.dataset.key = key;
    row.dataset.status = d.status;
    row.replaceChildren(
      h('td', { 'data-label': 'Event', class: 'mono' }, h('button', { type: 'button', class: 'link mono', 'data-open': '',
        'aria-expanded': String(state.open.has(d.id)), 'aria-label': `${d.event_type}, ${d.status}: show the delivery` }, d.event_type)),
      h('td', { 'data-label': 'Status' }, statusBadge(d.status)),
      h('td', { 'data-label': 'Attempts' }, String(d.attempts)),
      h('td', { 'data-label': 'Last answer' }, d.last_status_code ? String(d.last_status_code) : d.last_error ? h('span', { class: 'small' }, 'no answer') : '—'),
      h('td', { 'data-label': 'Created' }, time(d.created_at)));
  };
  const refreshSoon = () => { setTimeout(() => Promise.all([load(), onRefresh()]).catch(() => {}), 300); };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(async () => {
      if (!document.hidden) { try { await Promise.all([load(), onRefresh()]); } catch (e) { /* the banner says why */ } }
      schedule();
    }, POLL);
  };
  onLeave(() => { stopped = true; clearTimeout(timer); });

  status.addEventListener('change', () => { state.status = status.value; state.cursor = undefined; reload(); });
  type.addEventListener('change', () => { state.event_type = type.value; state.cursor = undefined; reload(); });

  // Search: an event id filters the log; a delivery id of this webhook opens
  // that delivery alone; from/to bound when deliveries were made.
  const term = h('input', { type: 'search', id: 'search-id', 'data-field': 'event_id', placeholder: 'Event or delivery id', class: 'mono', autocomplete: 'off' });
  const from = h('input', { type: 'datetime-local', id: 'search-since', 'data-field': 'since', step: 1 });
  const to = h('input', { type: 'datetime-local', id: 'search-until', 'data-field': 'until', step: 1 });
  const searchNote = h('p', { class: 'small muted', id: 'search-note', 'aria-live': 'polite' });
  const iso = (input) => input.value ? new Date(input.value).toISOString() : '';
  const search = h('form', {
    class: 'toolbar', id: 'search-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const id = term.value.trim().toLowerCase();
      Object.assign(state, { event_id: id, since: iso(from), until: iso(to), cursor: undefined });
      searchNote.textContent = '';
      try {
        await reload();
        if (id && !rows.size) { // not an event of this webhook: a delivery?
          const d = await api.delivery(id).catch(() => null);
          if (d && d.webhook_id === w.id) {
            Object.assign(state, { event_id: d.event_id });
            await reload();
            await show(d.id);
          } else {
            searchNote.textContent = 'No delivery of this webhook has that event or delivery id.';
          }
        }
      } catch (e) {
        const rest = fieldErrors(search, e);
        if (rest.length || !(e.fields && e.fields.length)) toast(e.message);
      }
    },
  },
  h('div', { class: 'field' }, h('label', { for: 'search-id' }, 'Event or delivery id'), term),
  h('div', { class: 'field' }, h('label', { for: 'search-since' }, 'From'), from),
  h('div', { class: 'field' }, h('label', { for: 'search-until' }, 'To'), to),
  h('button', { type: 'submit', class: 'btn', id: 'search' }, 'Search'),
  h('button', { type: 'button', class: 'btn', id: 'search-clear', onclick: () => {
    term.value = from.value = to.value = '';
    Object.assign(state, { event_id: '', since: '', until: '', cursor: undefined });
    searchNote.textContent = '';
    reload().catch((e) => toast(e.message));
  } }, 'Clear'));

  // show opens delivery id in the log, loading the page that has it first.
  const show = async (id) => {
    if (!rows.has(id)) await load();
    const r = rows.get(id);
    if (r && r.detail.hidden) r.row.click();
  };

  const since = h('input', { type: 'datetime-local', id: 'replay-since', 'data-field': 'since' });
  const replay = session.read_only ? null : h('form', {
    class: 'inline', onsubmit: async (ev) => {
      ev.preventDefault();
      if (!since.value) { toast('Choose the time to replay from.'); since.focus(); return; }
      try {
        const out = await api.replay(w.id, new Date(since.value).toISOString());
        toast(out.replayed ? `${out.replayed} failed deliveries are being sent again.` : 'No failed deliveries in that range.');
        refreshSoon();
      } catch (e) { toast(e.message); }
    },
  }, h('div', { class: 'field' }, h('label', { for: 'replay-since' }, 'Replay failed since'), since),
  h('button', { type: 'submit', class: 'btn', id: 'replay' }, 'Replay'));

  const element = h('section', { class: 'card', 'aria-labelledby': 'log-h' },
    h('div', { class: 'page-head' }, h('h2', { id: 'log-h' }, 'Delivery log'), replay),
    h('div', { class: 'toolbar' },
      h('div', { class: 'field' }, h('label', { for: 'filter-status' }, 'Status'), status),
      h('div', { class: 'field' }, h('label', { for: 'filter-type' }, 'Event type'), type),
      h('p', { class: 'small muted', 'aria-live': 'off' }, 'Refreshes by itself.')),
    h('p', { class: 'small muted', id: 'status-legend' }, 'Pending: on its way. Retrying: failed, tried again later. ',
      'Held: kept back while this endpoint keeps failing — it spends no attempt, and is sent in order once the endpoint answers again. ',
      'Succeeded and failed are final; a failed delivery can be retried by hand.'),
    search, searchNote,
    h('div', { class: 'table-wrap' }, h('table', { class: 'stack', id: 'deliveries-table' },
      h('thead', {}, h('tr', {}, ['Event', 'Status', 'Attempts', 'Last answer', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
      body)),
    empty, pagerBox);
  return { element, show, start: async () => { await load(); schedule(); } };
}
