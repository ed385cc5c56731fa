/**
 * Parley's HTTP API, as README.md describes it. Every URL carries
 * `?site_key=`, so the CORS preflight is checked against this site's origins.
 * Errors come back as ApiError with the status (0: no answer), the
 * backend's `{"error": {code, message}}` and `retryAfter`, the seconds of
 * its `Retry-After` header (a 429's), else null.
 */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** How long a 429 says to wait, in ms (Retry-After, else 5 s); 0 for anything else. */
export const limitedMs = (err) => (err && err.status === 429 ? (err.retryAfter || 5) * 1000 : 0);

/**
 * One JSON request: the body sent as JSON, the answer parsed (or, `asText`,
 * a successful answer's text), an error answer (or none) thrown as ApiError. Shared with the agent console (console/src/api.js).
 */
export async function fetchJson(fetchImpl, method, url, body, extraHeaders, asText = false) {
  const headers = { ...extraHeaders };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetchImpl(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      mode: 'cors',
    });
  } catch (err) {
    throw new ApiError(0, 'network_error', err && err.message);
  }
  let data = null;
  try {
    data = await (asText && response.ok ? response.text() : response.json());
  } catch {
    // an empty or non-JSON body: only the status tells
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    // Seconds only (what the backend sends; fetch trims it); an HTTP date or garbage is null.
    const wait = response.headers && response.headers.get('Retry-After');
    throw new ApiError(response.status, error.code, error.message, /^\d+$/.test(wait) ? +wait : null);
  }
  return data;
}

export function createApi(base, siteKey, fetchImpl = (...args) => globalThis.fetch(...args)) {
  const root = String(base || '').replace(/\/+$/, '');

  function url(path, params = {}) {
    const query = new URLSearchParams({ site_key: siteKey, ...params });
    return `${root}${path}?${query}`;
  }

  function request(method, path, { params, body, token, asText } = {}) {
    return fetchJson(fetchImpl, method, url(path, params), body, token && { Authorization: `Bearer ${token}` }, asText);
  }

  // send, handoff, typing and contact: a POST with the visitor's token and {conversation_id, ...}.
  const post = (route) => (token, body) => request('POST', `/api/chatbot/${route}`, { token, body });

  return {
    url,
    config: () => request('GET', '/api/chatbot/config'),
    init: (body) => request('POST', '/api/chatbot/init', { body: { site_key: siteKey, ...body } }),
    send: post('send'),
    handoff: post('handoff'),
    typing: post('typing'),
    /** The visitor's email, name and transcript opt-in on the conversation (issue 13). */
    contact: post('contact'),
    /** The conversation as plain text (the transcript a visitor downloads). */
    transcript: (token, conversationId) => request('GET', '/api/chatbot/transcript',
      { token, params: { conversation_id: conversationId, format: 'text' }, asText: true }),
    /** Deletes the conversation and its messages for good. */
    deleteConversation: (token, conversationId) =>
      request('DELETE', '/api/chatbot/conversation', { token, params: { conversation_id: conversationId } }),
    messages: (token, conversationId, after) =>
      request('GET', '/api/chatbot/messages', { token, params: { conversation_id: conversationId, after: String(after) } }),
  };
}
