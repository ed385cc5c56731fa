// The whole chat (app.js with its UI) on the fake DOM, against a fake backend
// (fetch) and a fake API Gateway WebSocket, on node:test's fake clock. A test
// drives the backend's side: what send answers, what is stored, what is pushed.
import { register } from 'node:module';
import { installDom } from './dom.js';

register('./css-hooks.js', import.meta.url); // `import css from './styles.css'` in ui/index.js
const { createApp } = await import('../../src/app.js');
const { createShell } = await import('../../src/ui/index.js');
const { translator } = await import('../../src/i18n.js');

/** Lets every promise that is ready settle (setImmediate is not mocked: it runs after them). */
export async function flush(rounds = 10) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Moves the fake clock `ms` forward in steps, letting promises settle after each. */
export async function advance(t, ms, step = 100) {
  await flush();
  for (let done = 0; done < ms;) {
    const d = Math.min(step, ms - done);
    t.mock.timers.tick(d);
    done += d;
    await flush(3);
  }
}

/** API Gateway's WebSocket as the transport sees it: opens at once; push(event, data) sends a frame in. */
export class FakeWebSocket {
  static made = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeWebSocket.made.push(this);
    queueMicrotask(() => {
      this.readyState = 1;
      if (this.onopen) this.onopen();
    });
  }

  send(frame) {
    this.sent.push(JSON.parse(frame));
  }

  close() {
    this.readyState = 3;
  }

  push(event, data) {
    if (this.onmessage) this.onmessage({ data: JSON.stringify({ event, data }) });
  }
}

/**
 * The backend: messages with gapless seqs, `send` answering as a streaming
 * engine does (`reply: null, reply_pending`) unless `answer` says otherwise,
 * `messages?after=` for catch-up and polling.
 */
function createBackend(providers) {
  const backend = {
    conversationId: 'c1',
    messages: [],
    calls: [],
    answer: null, // (visitorMessage, body) => send's answer (or a promise of it); null: the streaming one
    config: {}, // more of config's answer (availability, prechat, transcripts)
    initExtra: {}, // more of init's answer (availability, contact)
    availability: undefined, // handoff's answer's
    contact: null, // what /contact stored: {email, name, transcript}
    contactError: null, // {status, code}: /contact answers that error instead
    store(fields) {
      const message = {
        id: `m${this.messages.length + 1}`,
        conversation_id: this.conversationId,
        seq: this.messages.length + 1,
        created_at: new Date().toISOString(),
        ...fields,
      };
      this.messages.push(message);
      return message;
    },
    fetched: () => backend.calls.filter((c) => c.path === '/api/chatbot/messages').map((c) => Number(c.params.after)),
    async fetch(url, init = {}) {
      const u = new URL(url);
      const body = init.body ? JSON.parse(init.body) : undefined;
      backend.calls.push({ path: u.pathname, params: Object.fromEntries(u.searchParams), body });
      let data;
      switch (u.pathname) {
        case '/api/chatbot/config':
          data = { widget: {}, ...backend.config };
          break;
        case '/api/chatbot/init':
          data = {
            conversation_id: backend.conversationId,
            token: 'tok',
            messages: [],
            last_seq: 0,
            status: 'bot',
            realtime: { providers, websocket: { url: 'wss://ws.test/', event: 'ChatMessageReceived' }, polling: { interval_ms: 2000 } },
            ...backend.initExtra,
          };
          break;
        case '/api/chatbot/handoff':
          data = {
            message: backend.store({ sender: 'system', text: 'A person was asked for.', event: { type: 'status', status: 'pending', previous: 'bot' } }),
            availability: backend.availability,
          };
          break;
        case '/api/chatbot/contact': {
          if (backend.contactError) {
            const { status, code } = backend.contactError;
            return { ok: false, status, headers: new Headers(), json: async () => ({ error: { code, message: code } }) };
          }
          const { conversation_id: _, ...fields } = body;
          backend.contact = { email: null, name: null, transcript: false, ...backend.contact, ...fields };
          data = { contact: backend.contact };
          break;
        }
        case '/api/chatbot/send': {
          const message = backend.messages.find((m) => m.client_message_id === body.client_message_id)
            || backend.store({ sender: 'visitor', text: body.text, client_message_id: body.client_message_id });
          data = backend.answer ? await backend.answer(message, body) : {
            message,
            reply: null,
            reply_pending: { reply_id: `r_${message.seq}`, reply_to_seq: message.seq },
            last_seq: backend.messages.length,
            duplicate: false,
          };
          break;
        }
        case '/api/chatbot/messages': {
          const after = Number(u.searchParams.get('after'));
          data = { messages: backend.messages.filter((m) => m.seq > after), last_seq: backend.messages.length, has_more: false };
          break;
        }
        default:
          return { ok: false, status: 404, headers: new Headers(), json: async () => ({ error: { code: 'not_found' } }) };
      }
      return { ok: true, status: 200, headers: new Headers(), json: async () => data };
    },
  };
  return backend;
}

/**
 * Starts the chat (providers: ['websocket'] or ['polling']); returns the backend, the socket and DOM probes.
 * `setup(backend)` runs first (what config and init answer), `saved` puts a conversation in localStorage.
 */
export function startApp(t, { providers = ['websocket'], setup = () => {}, saved: resume = false } = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const uninstall = installDom();
  const backend = createBackend(providers);
  setup(backend);
  if (resume) localStorage.setItem('parley:demo', JSON.stringify({ conversation_id: 'c1', token: 'tok', read: 0 }));
  const saved = { fetch: globalThis.fetch, WebSocket: globalThis.WebSocket };
  globalThis.fetch = backend.fetch;
  globalThis.WebSocket = FakeWebSocket;
  FakeWebSocket.made = [];
  t.after(() => {
    Object.assign(globalThis, saved);
    uninstall();
  });
  const tr = translator('en');
  const shell = createShell({ t: tr, locale: 'en', position: 'right' });
  const app = createApp({ siteKey: 'demo', api: 'https://api.test', locale: 'en', shell, chunkBase: 'https://cdn.test/' });
  const events = [];
  app.on('message', (m) => events.push(m));
  const root = shell.root;
  return {
    app,
    backend,
    events,
    root,
    socket: () => FakeWebSocket.made[FakeWebSocket.made.length - 1],
    bubbles: () => root.querySelectorAll('[data-part="message"]'),
    byReply: (id) => root.querySelectorAll(`[data-reply-id="${id}"]`),
    drafts: () => root.querySelectorAll('.streaming'),
    typing: () => !root.querySelector('[data-part="typing"]').hidden,
    part: (name) => root.querySelector(`[data-part="${name}"]`),
    /** Which chat routes were called, in order (config excluded). */
    routes: () => backend.calls.map((c) => c.path.replace('/api/chatbot/', '')).filter((p) => p !== 'config'),
    text: (el) => el.querySelector('.text').textContent,
  };
}
