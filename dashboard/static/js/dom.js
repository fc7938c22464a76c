// Small DOM helpers. Text always goes in as text (textContent), never as HTML:
// receivers' bodies and users' descriptions cannot inject markup.

// h builds an element: h('a', {href: '#'}, 'text', child, [more]).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

// mount replaces the content of el.
export function mount(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

// time renders an instant in the browser's zone, with UTC on hover.
export function time(iso, opts = {}) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  const utc = d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const text = opts.relative ? relative(d) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  return h('time', { datetime: iso, title: utc }, text);
}

// relative says how long ago (or from now) d is, in words.
export function relative(d) {
  const secs = Math.round((d.getTime() - Date.now()) / 1000);
  const abs = Math.abs(secs);
  const fmt = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  if (abs < 60) return fmt.format(secs, 'second');
  if (abs < 3600) return fmt.format(Math.round(secs / 60), 'minute');
  if (abs < 86400) return fmt.format(Math.round(secs / 3600), 'hour');
  return fmt.format(Math.round(secs / 86400), 'day');
}

// pretty formats JSON for reading; anything else is shown as it is.
export function pretty(value) {
  if (typeof value === 'string') {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch (e) { return value; }
  }
  return JSON.stringify(value, null, 2);
}

const statusClass = { succeeded: 'badge-ok', failed: 'badge-bad', retrying: 'badge-warn', pending: 'badge-neutral', held: 'badge-warn' };

const statusMeaning = {
  pending: 'On its way: not attempted yet, or waiting for a worker.',
  retrying: 'An attempt failed; it is tried again later, waiting longer each time.',
  held: 'Kept back while the endpoint keeps failing: it spends no attempt, and is sent in order once the endpoint answers again.',
  succeeded: 'The endpoint answered 2xx.',
  failed: 'Its retries ran out (or the endpoint was disabled or deleted). It can be retried by hand.',
};

export function statusBadge(status) {
  return h('span', { class: 'badge ' + (statusClass[status] || 'badge-neutral'), title: statusMeaning[status] }, status);
}

export function subscriptionChips(events) {
  return h('div', { class: 'chips' }, events.map((e) => h('span', { class: 'chip' },
    e === '*' ? 'All events' : e.endsWith('.*') ? 'All ' + e.slice(0, -2) + ' events' : e)));
}

// copyButton copies text() to the clipboard and says so.
export function copyButton(text, label = 'Copy') {
  return h('button', {
    type: 'button', class: 'btn btn-small', onclick: async (ev) => {
      const btn = ev.currentTarget;
      try {
        await navigator.clipboard.writeText(text());
        btn.textContent = 'Copied';
      } catch (e) {
        btn.textContent = 'Select and copy';
      }
      setTimeout(() => { btn.textContent = label; }, 2000);
    },
  }, label);
}

// toast shows a short message for a few seconds.
export function toast(message) {
  const box = document.getElementById('toasts');
  const t = h('div', { class: 'toast', role: 'status' }, message);
  box.append(t);
  setTimeout(() => t.remove(), 4000);
}

// dialog opens a modal dialog: focus stays inside it, Esc closes it. buttons are
// [{label, class, value}]; it resolves with the value of the button pressed, or
// null when dismissed.
export function dialog({ title, body, buttons }) {
  return new Promise((resolve) => {
    const id = 'dlg-' + Math.random().toString(36).slice(2);
    const d = h('dialog', { 'aria-labelledby': id },
      h('div', { class: 'dialog-body' }, h('h2', { id }, title), body),
      h('div', { class: 'dialog-actions' }, buttons.map((b) => h('button', {
        type: 'button', class: 'btn ' + (b.class || ''), 'data-value': b.value,
        onclick: () => { d.returnValue = b.value; d.close(); },
      }, b.label))));
    d.addEventListener('close', () => {
      const v = d.returnValue || null;
      d.remove();
      resolve(v);
    });
    document.body.append(d);
    d.returnValue = '';
    d.showModal();
  });
}

// fieldErrors shows the 422 errors[] of err next to the fields of form (inputs
// named by data-field); what has no field is returned for a general message.
export function fieldErrors(form, err) {
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  const rest = [];
  for (const f of (err && err.fields) || []) {
    const name = f.field.replace(/\[\d+\]$/, '');
    const input = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (!input) { rest.push(f.field + ' ' + f.message); continue; }
    const msg = h('p', { class: 'field-error', id: 'err-' + name.replace(/\W/g, '-') }, messageFor(f));
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', msg.id);
    (input.closest('.field') || input.parentElement).append(msg);
  }
  const first = form.querySelector('[aria-invalid=true]');
  if (first) first.focus();
  return rest;
}

function messageFor(f) {
  const what = { url: 'URL', events: 'Events', description: 'Description' }[f.field.replace(/\[\d+\]$/, '')] || f.field;
  return what + ' ' + f.message;
}

// A view's cleanups (its pollers' stops) run when the page changes: the shell
// calls leave() on every navigation.
let cleanups = [];
export function onLeave(fn) { cleanups.push(fn); }
export function leave() {
  cleanups.forEach((fn) => fn());
  cleanups = [];
}
