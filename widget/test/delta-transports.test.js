// ChatReplyDelta on each realtime path: Pusher binds it on the conversation's channel,
// the WebSocket transport routes its frames, and realtime.js hands both to onDelta.
// Polling has none (it fetches stored messages only).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPusherTransport } from '../src/transports/pusher.js';
import { createWebSocketTransport } from '../src/transports/websocket.js';
import { createRealtime } from '../src/realtime.js';
import { createConnection } from '../src/connection.js';
import { createStore } from '../src/store.js';

const DELTA = { conversation_id: 'c1', reply_id: 'r_1', reply_to_seq: 7, n: 2, text: 'We open at 9' };
const MESSAGE = { id: 'm8', conversation_id: 'c1', seq: 8, sender: 'bot', text: 'We open at 9 am.', reply_id: 'r_1' };

function recorder() {
  const got = [];
  return {
    got,
    on: {
      message: (d) => got.push(['message', d]),
      typing: (d) => got.push(['typing', d]),
      delta: (d) => got.push(['delta', d]),
      drop: () => got.push(['drop']),
    },
  };
}

/** pusher-js as the transport uses it: a connection, channels whose events a test emits. */
function fakePusher() {
  const made = [];
  class FakePusher {
    constructor(key, options) {
      this.key = key;
      this.options = options;
      this.channels = new Map();
      this.connection = { socket_id: '1.2', bind() {}, unbind() {} };
      made.push(this);
    }

    subscribe(name) {
      const handlers = new Map();
      const channel = {
        bind: (event, fn) => handlers.set(event, [...(handlers.get(event) || []), fn]),
        emit: (event, data) => (handlers.get(event) || []).forEach((fn) => fn(data)),
      };
      this.channels.set(name, channel);
      queueMicrotask(() => channel.emit('pusher:subscription_succeeded'));
      return channel;
    }

    disconnect() {}
  }
  return { made, load: async () => FakePusher };
}

test('pusher: ChatReplyDelta on the conversation channel goes to on.delta', async () => {
  const { got, on } = recorder();
  const pusher = fakePusher();
  const transport = createPusherTransport({
    config: { pusher: { key: 'k', channel_prefix: 'private-chat.conversation.', auth_endpoint: '/api/chatbot/pusher/auth', event: 'ChatMessageReceived', use_tls: false } },
    session: { token: 'tok', conversationId: 'c1' },
    apiBase: 'http://127.0.0.1:8000',
    siteKey: 'demo',
    on,
    api: {},
    load: pusher.load,
  });
  await transport.connect();
  const channel = pusher.made[0].channels.get('private-chat.conversation.c1');
  assert.ok(channel, 'subscribed to the conversation channel');
  channel.emit('ChatReplyDelta', DELTA);
  channel.emit('ChatMessageReceived', MESSAGE);
  assert.deepEqual(got, [['delta', DELTA], ['message', MESSAGE]]);
  transport.close();
});

class FakeWebSocket {
  static last = null;

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    FakeWebSocket.last = this;
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen();
    });
  }

  send() {}

  close() {}
}

test('websocket: {"event":"ChatReplyDelta","data":{…}} goes to on.delta', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const { got, on } = recorder();
  const transport = createWebSocketTransport({
    config: { websocket: { url: 'wss://ws.example/prod', event: 'ChatMessageReceived' } },
    session: { token: 'tok', conversationId: 'c1' },
    on,
    WebSocketImpl: FakeWebSocket,
  });
  await transport.connect();
  const frame = (event, data) => FakeWebSocket.last.onmessage({ data: JSON.stringify({ event, data }) });
  frame('ChatReplyDelta', DELTA);
  frame('ChatMessageReceived', MESSAGE);
  frame('SomethingElse', DELTA);
  assert.deepEqual(got, [['delta', DELTA], ['message', MESSAGE]], 'deltas and messages routed, unknown events dropped');
  transport.close();
});

test('realtime hands a transport delta to onDelta with the provider name, and stores nothing', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const deltas = [];
  let on = null;
  const store = createStore();
  const rt = createRealtime({
    config: { providers: ['websocket', 'polling'] },
    transports: {
      websocket: (handlers) => {
        on = handlers;
        return { name: 'websocket', connect: async () => {}, close() {}, socketId: () => undefined, typing() {} };
      },
    },
    connection: createConnection(),
    store,
    fetchAfter: async (after) => ({ messages: [], last_seq: after, has_more: false }),
    onDelta: (data, name) => deltas.push([data, name]),
  });
  await rt.start();
  on.delta(DELTA);
  on.delta(null);
  assert.deepEqual(deltas, [[DELTA, 'websocket']], 'an empty event is dropped');
  assert.equal(store.size, 0, 'a delta is a hint: the store keeps stored messages only');
  rt.stop();
});
