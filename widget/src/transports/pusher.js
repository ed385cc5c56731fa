/**
 * The Pusher Channels transport, through pusher-js: the conversation's
 * private channel, authorized by our own route with the visitor's Bearer
 * token: `ChatMessageReceived`, `ClientTyping` and `ChatReplyDelta` (a slow
 * bot's reply as it is written) on it. Only the WebSocket transports are
 * enabled, so pusher-js never fetches SockJS (or anything else) from its
 * CDN, and stats stay off.
 *
 * pusher-js retries on its own; here a connection that leaves `connected`
 * is reported as dropped instead, so realtime.js owns every retry (backoff,
 * then polling) and decides every catch-up fetch (catchup.js).
 */
import { limitedMs } from '../api.js';
import { loadChunk } from '../chunks.js';

let PusherClass = null;

/** pusher-js, from parley-pusher.js beside parley.js: fetched when Pusher is first tried, once. */
async function loadPusher(chunkBase) {
  if (!PusherClass) {
    // pusher-js may set window.Pusher when it runs; Parley keeps to its one global,
    // and a host page's own Pusher stays as it was.
    const had = Object.prototype.hasOwnProperty.call(window, 'Pusher');
    const previous = window.Pusher;
    const { Pusher } = await loadChunk(chunkBase, 'pusher');
    PusherClass = Pusher;
    if (had) window.Pusher = previous;
    else delete window.Pusher;
  }
  return PusherClass;
}

// The backend relays at most one "visitor is typing" per conversation every 2 s and
// drops the rest, so calling more often would only cost requests.
export const TYPING_EVERY_MS = 2000;

export function createPusherTransport({ config, session, apiBase, siteKey, on, api, chunkBase, load = loadPusher }) {
  const options = config.pusher || {};
  let pusher = null;
  let closed = false;
  let typedAt = -Infinity;

  let watching = [];

  // pusher-js routes channel events through its own connection handlers, so
  // only ours are unbound (never unbind_all on the connection).
  function watch(event, fn) {
    pusher.connection.bind(event, fn);
    watching.push([event, fn]);
  }

  function unwatch() {
    for (const [event, fn] of watching) pusher.connection.unbind(event, fn);
    watching = [];
  }

  function stop() {
    closed = true;
    if (pusher) {
      unwatch();
      pusher.disconnect();
    }
  }

  return {
    name: 'pusher',
    async connect() {
      if (!options.key) throw new Error('pusher: not configured');
      const Pusher = await load(chunkBase);
      const tls = options.use_tls !== false;
      const base = String(apiBase).replace(/\/+$/, '');
      pusher = new Pusher(options.key, {
        cluster: options.cluster || 'mt1',
        ...(options.host ? { wsHost: options.host } : {}),
        ...(options.port ? { wsPort: options.port, wssPort: options.port } : {}),
        forceTLS: tls,
        // One WebSocket transport, the configured scheme: no wss:// retry of a ws:// server,
        // and never the SockJS/XHR fallbacks.
        enabledTransports: [tls ? 'wss' : 'ws'],
        enableStats: false,
        channelAuthorization: {
          endpoint: `${base}${options.auth_endpoint}?site_key=${encodeURIComponent(siteKey)}`,
          transport: 'ajax',
          headersProvider: () => ({ Authorization: `Bearer ${session.token}` }),
        },
      });
      await new Promise((resolve, reject) => {
        const fail = (why) => () => reject(new Error(`pusher: ${why}`));
        watch('unavailable', fail('unavailable'));
        watch('failed', fail('failed'));
        watch('error', fail('error'));
        const channel = pusher.subscribe(`${options.channel_prefix}${session.conversationId}`);
        channel.bind('pusher:subscription_succeeded', resolve);
        channel.bind('pusher:subscription_error', fail('subscription refused'));
        channel.bind(options.event || 'ChatMessageReceived', (data) => on.message(data));
        channel.bind('ClientTyping', (data) => on.typing(data));
        channel.bind(options.delta_event || 'ChatReplyDelta', (data) => on.delta(data));
      });
      unwatch();
      watch('state_change', ({ current }) => {
        if (current !== 'connected' && !closed) {
          stop();
          on.drop();
        }
      });
    },
    close: stop,
    socketId: () => (pusher && pusher.connection.socket_id) || undefined,
    /**
     * "Visitor is typing" goes through our API, which relays it to the agents'
     * console (Pusher client events would bypass the server's checks).
     */
    typing() {
      const now = Date.now();
      if (now - typedAt < TYPING_EVERY_MS) return;
      typedAt = now;
      // A hint only: a failure is dropped, and a 429 (Retry-After) holds the next one back.
      api.typing(session.token, { conversation_id: session.conversationId }).catch((err) => {
        typedAt += limitedMs(err);
      });
    },
  };
}
