// The dashboard's only way to the service: the public REST API under /api/v1.
// The credential (an API key, or a portal session token) lives in
// sessionStorage only: never in a URL, a cookie or a log.

const TOKEN_KEY = 'empfio.token';
const BASE = new URL('../api/v1', document.baseURI).pathname.replace(/\/$/, '');

export const credential = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// ApiError is a problem+json answer (or a network failure, status 0).
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || 'The request failed.');
    this.status = status;
    this.problem = problem || {};
    this.fields = (problem && problem.errors) || [];
  }
}

// listeners of connectivity: 'unauthorized', 'outage', 'recovered'.
const listeners = {};
export function on(name, fn) { (listeners[name] = listeners[name] || []).push(fn); }
function emit(name, arg) { (listeners[name] || []).forEach((fn) => fn(arg)); }

let down = false;

// request sends one call and returns its JSON (null for 204). It throws
// ApiError; 401 also tells 'unauthorized' listeners, network errors and 503
// tell 'outage' listeners.
export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = credential.get();
  if (token) headers.Authorization = 'Bearer ' + token;
  const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(BASE + path, init);
  } catch (e) {
    down = true;
    emit('outage', 'The Empfio API cannot be reached. Retrying…');
    throw new ApiError(0, { detail: 'The Empfio API cannot be reached; check your connection.' });
  }
  if (res.status === 503) {
    down = true;
    emit('outage', 'The Empfio API is temporarily unavailable. Retrying…');
  } else if (down) {
    down = false;
    emit('recovered');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = { detail: text.slice(0, 200) }; }
  }
  if (!res.ok) {
    if (res.status === 401) emit('unauthorized', data && data.detail);
    throw new ApiError(res.status, data);
  }
  return data;
}

export const api = {
  session: () => request('GET', '/session'),
  eventTypes: () => request('GET', '/event-types'),
  webhooks: (cursor) => request('GET', '/webhooks' + query({ cursor, limit: 50 })),
  webhook: (id) => request('GET', `/webhooks/${enc(id)}`),
  createWebhook: (body) => request('POST', '/webhooks', body),
  updateWebhook: (id, body) => request('PATCH', `/webhooks/${enc(id)}`, body),
  deleteWebhook: (id) => request('DELETE', `/webhooks/${enc(id)}`),
  testWebhook: (id, eventType) => request('POST', `/webhooks/${enc(id)}/test`, eventType ? { event_type: eventType } : undefined),
  filterTest: (id, filter) => request('POST', `/webhooks/${enc(id)}/filter-test`, { filter }),
  secret: (id) => request('GET', `/webhooks/${enc(id)}/secret`),
  rotateSecret: (id, grace) => request('POST', `/webhooks/${enc(id)}/secret/rotate`, { grace }),
  trends: (id, window) => request('GET', `/webhooks/${enc(id)}/trends` + query({ window })),
  deliveries: (id, params) => request('GET', `/webhooks/${enc(id)}/deliveries` + query(params)),
  replay: (id, since) => request('POST', `/webhooks/${enc(id)}/replay`, { since }),
  delivery: (id) => request('GET', `/deliveries/${enc(id)}`),
  retry: (id) => request('POST', `/deliveries/${enc(id)}/retry`),
  auditLog: (params) => request('GET', '/audit-log' + query(params)),
  events: (params) => request('GET', '/events' + query(params)),
  calcom: () => request('GET', '/integrations/calcom'),
  connectCalcom: () => request('POST', '/integrations/calcom'),
  event: (id) => request('GET', `/events/${enc(id)}`),
};

function enc(s) { return encodeURIComponent(s); }

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}
