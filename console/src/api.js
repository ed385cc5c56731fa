/**
 * Parley's agent API (docs/agent-api.md), with the agent's Cognito ID token
 * as Bearer. A 401 `token_expired` renews the token once and repeats the
 * request; any other 401 means the session is over (`onSignedOut`). Errors
 * come back as ApiError with the status (0: no answer) and the backend's
 * `{"error": {code, message}}`.
 */
import { ApiError, fetchJson } from '../../widget/src/api.js';

export { ApiError };

/** Worth sending again as it was: no answer, or the server failed. */
export function retryable(err) {
  return err instanceof ApiError && (err.status === 0 || err.status >= 500 || err.status === 429);
}

const READABLE = {
  already_claimed: 'Another agent holds this conversation.',
  invalid_transition: 'That is not possible in the conversation’s current status.',
  not_a_member: 'You are not a member of this site.',
  conversation_not_found: 'This conversation does not exist (any more).',
  unknown_site: 'This site does not exist.',
  idempotency_conflict: 'This reply was already sent with other text.',
  network_error: 'No connection to Parley.',
};

/**
 * The server does not know the route: a backend older than this console.
 * API Gateway and `chalice local` answer an unknown route with a 403 that has
 * no error code (`{"message": "Missing Authentication Token"}`); ours always
 * carries one.
 */
export function unsupported(err) {
  if (!(err instanceof ApiError)) return false;
  return err.status === 404 || err.status === 405 || err.status === 501 || (err.status === 403 && !err.code);
}

/** A sentence for the agent. */
export function describe(err) {
  if (err instanceof ApiError) return READABLE[err.code] || err.message || `Request failed (${err.status})`;
  return (err && err.message) || 'Something went wrong.';
}

export function createApi({ base, auth, fetchImpl = (...args) => globalThis.fetch(...args), onSignedOut = () => {} }) {
  const root = String(base || '').replace(/\/+$/, '');

  function url(path, params) {
    const query = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null)) : null;
    return `${root}${path}${query && [...query].length ? `?${query}` : ''}`;
  }

  async function once(method, path, { params, body, anonymous }) {
    const headers = anonymous ? {} : { Authorization: `Bearer ${await auth.token()}` };
    return fetchJson(fetchImpl, method, url(path, params), body, headers);
  }

  async function request(method, path, options = {}) {
    try {
      return await once(method, path, options);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401 || options.anonymous) throw err;
      if (err.code === 'token_expired') {
        try {
          await auth.refresh();
        } catch (refreshErr) {
          if (!auth.signedIn) onSignedOut(refreshErr);
          throw err;
        }
        try {
          return await once(method, path, options);
        } catch (again) {
          if (again instanceof ApiError && again.status === 401) onSignedOut(again);
          throw again;
        }
      }
      onSignedOut(err);
      throw err;
    }
  }

  const site = (s) => `/api/agent/sites/${encodeURIComponent(s)}`;
  const conv = (s, id) => `${site(s)}/conversations/${encodeURIComponent(id)}`;

  return {
    url,
    me: () => request('GET', '/api/agent/me'),
    realtimeConfig: (s) => request('GET', '/api/chatbot/config', { params: { site_key: s }, anonymous: true }),
    inbox: (s, status, { cursor, limit } = {}) =>
      request('GET', `${site(s)}/inbox`, { params: { status, cursor, limit: limit && String(limit) } }),
    members: (s) => request('GET', `${site(s)}/members`),
    conversation: (s, id) => request('GET', conv(s, id)),
    messagesAfter: (s, id, after, limit) =>
      request('GET', `${conv(s, id)}/messages`, { params: { after: String(after), limit: limit && String(limit) } }),
    messagesBefore: (s, id, before, limit) =>
      request('GET', `${conv(s, id)}/messages`, { params: { before: String(before), limit: limit && String(limit) } }),
    reply: (s, id, body) => request('POST', `${conv(s, id)}/messages`, { body }),
    /** claim, assign ({agent_id}), unassign, resolve, reopen, handback. */
    act: (s, id, action, body = {}) => request('POST', `${conv(s, id)}/${action}`, { body }),
    read: (s, id, seq) => request('POST', `${conv(s, id)}/read`, { body: { seq } }),
    typing: (s, id) => request('POST', `${conv(s, id)}/typing`, { body: {} }),
    pusherAuthEndpoint: () => `${root}/api/agent/pusher/auth`,
    /** The presence heartbeat: this agent is at the desk for site `s` for the next 90 s. */
    presence: (s) => request('POST', `${site(s)}/presence`, { body: {} }),
    /**
     * Leaves the desk: DELETE presence with `keepalive`, so it still goes out while
     * the page unloads (`sendBeacon` cannot carry the Authorization header). The
     * token is passed in, read synchronously before a sign-out drops it. Best
     * effort: never rejects.
     */
    leave(s, token) {
      if (!token) return Promise.resolve(false);
      try {
        return Promise.resolve(fetchImpl(url(`${site(s)}/presence`), {
          method: 'DELETE',
          headers: { Authorization: `Bearer ${token}` },
          keepalive: true,
          credentials: 'omit',
          mode: 'cors',
        })).then((r) => !!(r && r.ok), () => false);
      } catch {
        return Promise.resolve(false);
      }
    },
    webhooks: (s) => request('GET', `${site(s)}/webhooks`),
    deliveries: (s, limit = 50) => request('GET', `${site(s)}/webhooks/deliveries`, { params: { limit: String(limit) } }),
  };
}
