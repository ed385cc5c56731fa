/**
 * The API Gateway WebSocket: `?agent_token=<ID token>&site_key=<site>` on
 * connect (browsers cannot set headers on a WebSocket) makes it the site's
 * feed; a `watch` frame adds the open conversation (sent again after every
 * reconnect, since a new connection watches nothing). A ping every ~5 min
 * because API Gateway closes a connection idle for 10.
 */
export const PING_MS = 5 * 60 * 1000;

export function createWebSocketTransport({ config, token, site, on, WebSocketImpl = globalThis.WebSocket, pingMs = PING_MS }) {
  const { url, event = 'ChatMessageReceived', typing_event: typingEvent = 'ClientTyping' } = config.websocket || {};
  let ws = null;
  let pinger = null;
  let closed = false;
  let watching = null;

  function send(frame) {
    if (ws && ws.readyState === 1) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function stop() {
    closed = true;
    clearInterval(pinger);
    if (ws) {
      ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
      try {
        ws.close();
      } catch {
        // already closing
      }
    }
  }

  return {
    name: 'websocket',
    connect() {
      return new Promise((resolve, reject) => {
        if (!url || !WebSocketImpl) return reject(new Error('websocket: not configured'));
        let open = false;
        const sep = url.includes('?') ? '&' : '?';
        try {
          ws = new WebSocketImpl(`${url}${sep}agent_token=${encodeURIComponent(token())}&site_key=${encodeURIComponent(site)}`);
        } catch (err) {
          return reject(err);
        }
        ws.onopen = () => {
          open = true;
          pinger = setInterval(() => send({ action: 'ping' }), pingMs);
          if (watching) send({ action: 'watch', conversation_id: watching });
          resolve();
        };
        ws.onmessage = (e) => {
          let frame;
          try {
            frame = JSON.parse(e.data);
          } catch {
            return;
          }
          if (frame.event === event) on.message(frame.data);
          else if (frame.event === 'ConversationCreated') on.created(frame.data);
          else if (frame.event === typingEvent) on.typing(frame.data);
        };
        ws.onerror = () => {
          if (!open) reject(new Error('websocket: connection failed'));
        };
        ws.onclose = () => {
          clearInterval(pinger);
          if (!open) return reject(new Error('websocket: refused'));
          if (!closed) {
            closed = true;
            on.drop();
          }
        };
      });
    },
    watch(id) {
      watching = id || null;
      // The server answers what the watch missed only from storage: catch up once it is sent.
      if (send({ action: 'watch', conversation_id: watching }) && watching) on.subscribed('conversation');
    },
    close: stop,
    /** A socket that may have died while offline: close it, and reconnecting starts (`drop`). */
    restart() {
      if (closed) return;
      stop();
      on.drop();
    },
    socketId: () => undefined,
    typing: () => send({ action: 'typing' }),
  };
}
