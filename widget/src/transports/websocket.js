/**
 * The API Gateway WebSocket transport: `?token=` on connect (browsers cannot
 * set headers on a WebSocket), a ping every ~5 min because API Gateway closes
 * a connection idle for 10, `ChatMessageReceived`, `ClientTyping` and
 * `ChatReplyDelta` (a slow bot's reply as it is written) in.
 *
 * A transport is `{name, connect(), close(), socketId(), typing()}`; it calls
 * `on.message(data)`, `on.typing(data)`, `on.delta(data)` and, once,
 * `on.drop()` when a connection that was up goes away.
 */
export const PING_MS = 5 * 60 * 1000;

export function createWebSocketTransport({ config, session, on, WebSocketImpl = globalThis.WebSocket, pingMs = PING_MS }) {
  const {
    url, event = 'ChatMessageReceived', typing_event: typingEvent = 'ClientTyping', delta_event: deltaEvent = 'ChatReplyDelta',
  } = config.websocket || {};
  let ws = null;
  let pinger = null;
  let closed = false;

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

  function send(frame) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
  }

  return {
    name: 'websocket',
    connect() {
      return new Promise((resolve, reject) => {
        if (!url || !WebSocketImpl) return reject(new Error('websocket: not configured'));
        let open = false;
        const sep = url.includes('?') ? '&' : '?';
        try {
          ws = new WebSocketImpl(`${url}${sep}token=${encodeURIComponent(session.token)}`);
        } catch (err) {
          return reject(err);
        }
        ws.onopen = () => {
          // API Gateway completes $connect before the upgrade: open means registered.
          open = true;
          pinger = setInterval(() => send({ action: 'ping' }), pingMs);
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
          else if (frame.event === typingEvent) on.typing(frame.data);
          else if (frame.event === deltaEvent) on.delta(frame.data);
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
    close: stop,
    socketId: () => undefined,
    typing: () => send({ action: 'typing' }),
  };
}
