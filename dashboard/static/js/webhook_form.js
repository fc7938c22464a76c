// Add webhook: URL, description, events from the catalog; on save the service
// sends a test ping at once, and the signing secret is shown, once.
import { api } from './api.js';
import { copyButton, fieldErrors, h, mount, pretty, time } from './dom.js';
import { breadcrumb } from './webhooks.js';

export async function webhookForm(main, session) {
  if (session.read_only) {
    location.replace('#/webhooks');
    return;
  }
  const catalog = (await api.eventTypes()).data;
  const form = settingsForm(session, catalog, null, async (body, form, button) => {
    button.disabled = true;
    button.textContent = 'Saving and sending a test ping…';
    try {
      const created = await api.createWebhook(body);
      showCreated(main, created);
    } catch (e) {
      showFormError(form, e);
    } finally {
      button.disabled = false;
      button.textContent = 'Save';
    }
  });
  mount(main, breadcrumb(h('span', { 'aria-current': 'page' }, 'Add webhook')),
    h('div', { class: 'page-head' }, h('h1', {}, 'Add webhook')), form);
  form.querySelector('#url').focus();
}

// settingsForm is the form of a webhook's settings: empty to add one, filled to
// edit it. submit gets the body to send.
export function settingsForm(session, catalog, webhook, submit) {
  const insecure = session.insecure_targets_allowed;
  const url = h('input', {
    type: 'url', id: 'url', name: 'url', 'data-field': 'url', required: true, value: webhook ? webhook.url : '',
    placeholder: 'https://example.com/webhooks/empfio', autocomplete: 'off', 'aria-describedby': 'url-hint',
  });
  const description = h('input', {
    type: 'text', id: 'description', name: 'description', 'data-field': 'description', maxlength: 500,
    value: webhook ? webhook.description : '', placeholder: 'e.g. CRM sync (production)',
  });
  const picker = eventPicker(session, catalog, webhook ? webhook.events : []);
  const policy = retryPolicyFields(webhook && webhook.retry_policy);
  const rate = rateLimitFields(webhook && webhook.rate_limit);
  const ordered = orderedField(webhook);
  const custom = headersFields(webhook ? webhook.headers : {});
  const filter = filterFields(webhook);
  const button = h('button', { type: 'submit', class: 'btn btn-primary', id: 'save-webhook' }, 'Save');
  const general = h('div', { class: 'notice notice-bad', role: 'alert', hidden: true, id: 'form-error' });
  const form = h('form', {
    class: 'card', novalidate: true, id: 'webhook-form', onsubmit: (ev) => {
      ev.preventDefault();
      general.hidden = true;
      const local = localErrors(url.value.trim(), picker.value(), insecure);
      const f = filter.value();
      if (f.error) local.push({ field: 'filter', message: f.error });
      if (local.length) { showFormError(form, { fields: local }); return; }
      const body = { url: url.value.trim(), events: picker.value(), description: description.value.trim() };
      const rp = policy.value();
      if (rp) body.retry_policy = rp;
      const rl = rate.value();
      if (rl) body.rate_limit = rl;
      if (webhook || ordered.value()) body.ordered = ordered.value();
      const hs = custom.value();
      if (webhook || Object.keys(hs).length) body.headers = hs; // an edit sends them all: {} clears them
      if (webhook || f.filter) body.filter = f.filter; // null clears it
      submit(body, form, button);
    },
  },
  general,
  h('div', { class: 'field' },
    h('label', { for: 'url' }, 'Endpoint URL'), url,
    h('p', { class: 'hint', id: 'url-hint' }, insecure
      ? 'The URL Empfio POSTs events to. This server also allows http:// and private addresses (development).'
      : 'The HTTPS URL Empfio POSTs events to. It must be reachable from the internet.')),
  h('div', { class: 'field' }, h('label', { for: 'description' }, 'Description ', h('span', { class: 'muted' }, '(optional)')), description),
  picker.element,
  policy.element,
  rate.element,
  ordered.element,
  filter.element,
  custom.element,
  h('div', { class: 'inline' }, button, h('a', { class: 'btn', href: webhook ? '#/webhooks/' + webhook.id : '#/webhooks' }, 'Cancel')));
  return form;
}

// localErrors catches what the server would refuse anyway, with the same words.
function localErrors(url, events, insecure) {
  const errs = [];
  if (!url) errs.push({ field: 'url', message: 'is required' });
  else if (/^http:\/\//i.test(url) && !insecure) errs.push({ field: 'url', message: 'must use https:// — Empfio only sends webhooks over TLS.' });
  if (!events.length) errs.push({ field: 'events', message: 'must name at least one event type, or all events' });
  return errs;
}

export function showFormError(form, err) {
  const rest = fieldErrors(form, err);
  const general = form.querySelector('#form-error');
  if (rest.length || !(err.fields && err.fields.length)) {
    general.textContent = rest.length ? rest.join('; ') : err.message;
    general.hidden = false;
    if (!form.querySelector('[aria-invalid=true]')) general.scrollIntoView({ block: 'nearest' });
  }
}

// eventPicker offers the catalog grouped by resource, with "All events" and
// "All <resource> events"; value() returns the subscription list.
export function eventPicker(session, catalog, selected) {
  const limited = !!session.allowed_event_types;
  const allowedWildcard = (w) => !limited || session.allowed_event_types.includes(w);
  const groups = new Map();
  for (const t of catalog) {
    if (t.name === 'webhook.ping') continue;
    const g = t.name.split('.')[0];
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(t);
  }
  const all = h('input', { type: 'checkbox', id: 'ev-all', value: '*', checked: selected.includes('*') });
  const groupBoxes = [];
  const eventBoxes = [];
  const fieldsets = [...groups].map(([g, types]) => {
    const groupBox = allowedWildcard(g + '.*') ? h('input', { type: 'checkbox', id: 'ev-' + g + '-all', value: g + '.*', checked: selected.includes(g + '.*') }) : null;
    if (groupBox) groupBoxes.push(groupBox);
    return h('fieldset', { class: 'event-group' },
      h('legend', {}, g),
      groupBox ? h('label', { class: 'check', for: groupBox.id }, groupBox, h('span', {}, h('span', { class: 'name' }, `All ${g} events`),
        h('span', { class: 'desc' }, `${g}.* — includes types added later`))) : null,
      types.map((t) => {
        const box = h('input', { type: 'checkbox', id: 'ev-' + t.name.replace('.', '-'), value: t.name, 'data-group': g, checked: selected.includes(t.name) });
        eventBoxes.push(box);
        return h('div', {},
          h('label', { class: 'check', for: box.id }, box, h('span', {}, h('span', { class: 'name' }, t.name), h('span', { class: 'desc' }, t.description))),
          h('details', { class: 'example' }, h('summary', {}, 'Example payload'), h('pre', { class: 'code', 'aria-label': t.name + ' example', tabindex: 0 }, pretty(t.example_data))));
      }));
  });
  const sync = () => {
    for (const b of groupBoxes) b.disabled = all.checked;
    for (const b of eventBoxes) {
      const group = groupBoxes.find((g) => g.value === b.dataset.group + '.*');
      b.disabled = all.checked || (group && group.checked);
    }
  };
  const element = h('div', { class: 'field', 'data-field': 'events', tabindex: -1 },
    h('h2', {}, 'Events to send'),
    h('p', { class: 'hint' }, 'Choose what this endpoint receives. Each event is described in the catalog; open an example to see its payload.'),
    limited ? null : h('label', { class: 'check', for: 'ev-all' }, all, h('span', {}, h('span', { class: 'name' }, 'All events'),
      h('span', { class: 'desc' }, '* — every event type, including ones added later'))),
    fieldsets);
  element.addEventListener('change', sync);
  sync();
  return {
    element,
    value() {
      if (all.checked && !limited) return ['*'];
      const out = groupBoxes.filter((b) => b.checked).map((b) => b.value);
      const covered = new Set(out.map((v) => v.slice(0, -2)));
      for (const b of eventBoxes) if (b.checked && !covered.has(b.dataset.group)) out.push(b.value);
      return out;
    },
  };
}

// shortDuration writes a Go duration the way people do: "2h0m0s" → "2h",
// "1h30m0s" → "1h30m".
export function shortDuration(d) {
  const s = String(d).replace(/([hm])0s$/, '$1').replace(/h0m$/, 'h');
  return s || d;
}

function retryPolicyFields(policy) {
  const custom = h('input', { type: 'checkbox', id: 'rp-custom', checked: !!policy });
  const retries = h('input', { type: 'number', id: 'rp-retries', min: 0, max: 10, 'data-field': 'retry_policy.max_retries', value: policy ? policy.max_retries : 3 });
  const windowIn = h('input', { type: 'text', id: 'rp-window', 'data-field': 'retry_policy.window', value: policy ? shortDuration(policy.window) : '30m', placeholder: '30m to 72h' });
  const fields = h('div', { class: 'split' },
    h('div', { class: 'field' }, h('label', { for: 'rp-retries' }, 'Retries after the first failure'), retries, h('p', { class: 'hint' }, '0 to 10')),
    h('div', { class: 'field' }, h('label', { for: 'rp-window' }, 'Spread over'), windowIn, h('p', { class: 'hint' }, 'From 30 minutes to 72 hours, written like 45m, 2h or 1h30m')));
  const sync = () => { fields.hidden = !custom.checked; };
  custom.addEventListener('change', sync);
  sync();
  return {
    element: h('details', { class: 'field', open: !!policy },
      h('summary', {}, 'Retry policy'),
      h('p', { class: 'hint' }, 'By default a failed delivery is retried 3 times over 30 minutes, waiting longer each time.'),
      h('label', { class: 'check', for: 'rp-custom' }, custom, h('span', {}, 'Use a custom retry policy for this endpoint')),
      fields),
    value: () => custom.checked ? { max_retries: Number(retries.value), window: windowIn.value.trim() } : null,
  };
}

// rateLimitFields offers an endpoint's delivery rate limit (1 to 10,000 a second).
function rateLimitFields(limit) {
  const on = h('input', { type: 'checkbox', id: 'rl-on', checked: !!limit });
  const perSecond = h('input', { type: 'number', id: 'rl-per-second', min: 1, max: 10000, 'data-field': 'rate_limit.per_second', value: limit ? limit.per_second : 10 });
  const field = h('div', { class: 'field' }, h('label', { for: 'rl-per-second' }, 'Deliveries a second at most'), perSecond,
    h('p', { class: 'hint' }, '1 to 10,000, across all of Empfio\'s workers. Deliveries over it wait; they spend no retry.'));
  const sync = () => { field.hidden = !on.checked; };
  on.addEventListener('change', sync);
  sync();
  return {
    element: h('details', { class: 'field', open: !!limit },
      h('summary', {}, 'Rate limit'),
      h('label', { class: 'check', for: 'rl-on' }, on, h('span', {}, 'Limit how fast Empfio sends to this endpoint')),
      field),
    value: () => on.checked ? { per_second: Number(perSecond.value) } : null,
  };
}

// orderedField turns ordered delivery on or off.
function orderedField(webhook) {
  const on = h('input', { type: 'checkbox', id: 'ordered', 'data-field': 'ordered', checked: !!(webhook && webhook.ordered), 'aria-describedby': 'ordered-hint' });
  return {
    element: h('div', { class: 'field' },
      h('label', { class: 'check', for: 'ordered' }, on, h('span', {}, h('span', { class: 'name' }, 'Deliver in order'),
        h('span', { class: 'desc', id: 'ordered-hint' }, 'Events about the same lead, conversation or booking arrive one at a time, in the order they happened. ' +
          'A delivery that keeps failing holds back the later ones about the same thing until it succeeds or its retries run out; others are not held back.')))),
    value: () => on.checked,
  };
}

// filterFields edits an endpoint's payload filter as JSON, with a dry run
// against the organization's recent events (once the webhook exists).
function filterFields(webhook) {
  const current = webhook && webhook.filter ? JSON.stringify(webhook.filter, null, 2) : '';
  const text = h('textarea', { id: 'filter', class: 'mono', rows: 5, 'data-field': 'filter', spellcheck: 'false',
    placeholder: '{"data.status": {"$in": ["new", "qualified"]}, "data.score": {"$gte": 0.5}}' }, current);
  const out = h('div', { id: 'filter-dry-run', 'aria-live': 'polite' });
  const parse = () => {
    const raw = text.value.trim();
    if (!raw) return { filter: null };
    try { return { filter: JSON.parse(raw) }; } catch (e) { return { error: 'is not valid JSON: ' + e.message }; }
  };
  const tryIt = webhook ? h('button', {
    type: 'button', class: 'btn btn-small', id: 'filter-try', onclick: async () => {
      const form = text.closest('form');
      const f = parse();
      if (f.error) { fieldErrors(form, { fields: [{ field: 'filter', message: f.error }] }); return; }
      try {
        const r = await api.filterTest(webhook.id, f.filter);
        fieldErrors(form, { fields: [] });
        mount(out, h('p', { class: 'small', id: 'filter-verdict' }, `${r.passed} of the last ${r.checked} events of this webhook's types would be delivered.`),
          r.events.length ? h('ul', { class: 'small filter-events' }, r.events.slice(0, 20).map((ev) =>
            h('li', { 'data-passes': String(ev.passes) }, ev.passes ? '✓ ' : '✗ ', h('span', { class: 'mono' }, ev.event), ' ', time(ev.received_at),
              ' ', h('a', { href: '#/events/' + ev.event_id, class: 'mono muted' }, ev.event_id.slice(0, 8))))) : null);
      } catch (e) {
        const rest = fieldErrors(form, e);
        if (rest.length || !(e.fields && e.fields.length)) mount(out, h('p', { class: 'field-error' }, e.message));
      }
    },
  }, 'Try on recent events') : null;
  return {
    element: h('details', { class: 'field', open: !!current },
      h('summary', {}, 'Payload filter'),
      h('p', { class: 'hint' }, 'Only events whose payload matches are delivered; leave empty for all. Keys are dotted paths into the payload (',
        h('code', {}, 'event'), ', ', h('code', {}, 'data.status'), '); a value means equals, or use ',
        h('code', {}, '$eq $ne $in $nin $gt $gte $lt $lte $exists'), ', and ', h('code', {}, '$and'), ' / ', h('code', {}, '$or'), ' with lists.',
        webhook ? '' : ' Once the webhook is saved you can try a filter on its recent events.'),
      h('label', { for: 'filter' }, 'Filter (JSON)'), text,
      tryIt, out),
    value: parse,
  };
}

// headersFields edits an endpoint's custom headers: a row per header, sent on
// every delivery. value() returns them as an object; each value input is named
// for its header, so the server's 422 lands beside it.
function headersFields(headers) {
  const rows = h('div', { class: 'header-rows' });
  const addRow = (name = '', value = '') => {
    const n = h('input', { type: 'text', class: 'mono', 'aria-label': 'Header name', placeholder: 'Authorization', value: name, 'data-header-name': '' });
    const v = h('input', { type: 'text', class: 'mono', 'aria-label': 'Header value', placeholder: 'Bearer …', value, maxlength: 1024, 'data-header-value': '' });
    const row = h('div', { class: 'field header-row split' }, n, v,
      h('button', { type: 'button', class: 'btn btn-small', 'aria-label': 'Remove header', onclick: () => row.remove() }, 'Remove'));
    rows.append(row);
    return n;
  };
  for (const [k, v] of Object.entries(headers || {}).sort()) addRow(k, v);
  const add = h('button', { type: 'button', class: 'btn btn-small', id: 'add-header', onclick: () => addRow().focus() }, 'Add header');
  return {
    element: h('details', { class: 'field', open: Object.keys(headers || {}).length > 0, 'data-field': 'headers', tabindex: -1 },
      h('summary', {}, 'Custom headers'),
      h('p', { class: 'hint' }, 'Sent with every delivery to this endpoint, such as a token your receiver checks. Names are HTTP header names; ',
        'Content-Type, Host, User-Agent, X-Empfio-* and webhook-* are Empfio\'s own. Values are stored like the signing secret.'),
      rows, add),
    value() {
      const out = {};
      for (const row of rows.querySelectorAll('.header-row')) {
        const name = row.querySelector('[data-header-name]').value.trim();
        const value = row.querySelector('[data-header-value]');
        value.dataset.field = 'headers.' + name;
        if (name || value.value) out[name] = value.value;
      }
      return out;
    },
  };
}

function showCreated(main, w) {
  const secretText = w.secret;
  mount(main, breadcrumb(h('span', { 'aria-current': 'page' }, 'Webhook added')),
    h('div', { class: 'page-head' }, h('h1', {}, 'Webhook added')),
    h('div', { class: 'card' },
      h('h2', {}, 'Test ping'),
      pingOutcome(w.ping),
      h('p', { class: 'muted small' }, 'Empfio sent a signed webhook.ping to ', h('span', { class: 'mono break' }, w.url),
        ' when you saved. You can send another from the webhook’s page at any time.')),
    h('div', { class: 'card', id: 'secret-once' },
      h('h2', {}, 'Signing secret'),
      h('p', {}, 'Copy it into your receiver now. Whoever may manage this webhook can show it again on the webhook’s page (Reveal).'),
      h('div', { class: 'secret-box' }, h('code', { id: 'new-secret' }, secretText), copyButton(() => secretText)),
      h('p', { class: 'small' }, 'To verify a delivery, compute the HMAC-SHA256 of the raw request body with this secret as the key, hex-encode it, and compare it with the ',
        h('code', {}, 'X-Empfio-Signature'), ' header in constant time. Deliveries also carry Standard Webhooks headers (',
        h('code', {}, 'webhook-signature'), ').')),
    h('a', { class: 'btn btn-primary', href: '#/webhooks/' + w.id, id: 'open-webhook' }, 'Open webhook'));
}

// pingOutcome shows the result of a test ping in plain words.
export function pingOutcome(p) {
  if (!p) return null;
  return h('div', { class: 'outcome ' + (p.ok ? 'outcome-ok' : 'outcome-bad'), id: 'ping-outcome', role: 'status' },
    h('strong', {}, p.ok ? 'Your endpoint answered.' : 'The test ping failed.'),
    describePing(p));
}

export function describePing(p) {
  const ms = `${p.duration_ms} ms`;
  if (p.ok) return `It answered ${p.status_code} in ${ms}.`;
  if (p.status_code) return `It answered ${p.status_code}${reasons[p.status_code] ? ' ' + reasons[p.status_code] : ''} after ${ms}; any 2xx counts as success.`;
  const err = p.error || '';
  const timeout = err.match(/within (\d+(?:\.\d+)?)(m?s)/);
  if (timeout) return `It timed out after ${timeout[1]} ${timeout[2] === 'ms' ? 'ms' : 's'}: no answer came back.`;
  if (/connection refused/i.test(err)) return 'Connection refused: nothing is listening at that address and port.';
  if (/no such host|does not resolve/i.test(err)) return 'The host name does not resolve.';
  if (/certificate|x509|tls/i.test(err)) return 'The TLS handshake failed: ' + err;
  if (/not allowed/i.test(err)) return 'The address is private or reserved, so Empfio may not send to it.';
  if (/reset|EOF/i.test(err)) return 'The connection was closed before an answer came back.';
  return err || 'No answer.';
}

const reasons = { 301: 'Moved Permanently (redirects are not followed)', 302: 'Found (redirects are not followed)', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 410: 'Gone', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
