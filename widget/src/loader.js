/**
 * What a page view runs: the bubble, and nothing else until the visitor shows
 * interest. No API call, no socket, nothing stored. The chat itself
 * (parley-app.js, beside parley.js) is fetched when the visitor points at,
 * focuses or presses the bubble, when the page calls a command, or at once
 * when this browser holds a conversation of this site (a returning visitor
 * resumes it and connects). Commands and listeners given meanwhile wait for
 * it, in order.
 */
import { loadChunk } from './chunks.js';
import { localeFrom, translator } from './i18n.js';
import { hasSavedConversation } from './session.js';
import { createShell } from './ui/index.js';

const IDLE = { provider: null, connected: false, contiguousSeq: 0, lastSeq: 0, status: null, agentName: null };

export function createLoader(options, load = (name) => loadChunk(options.chunkBase, name)) {
  const locale = localeFrom(options.locale);
  const t = translator(locale);
  const shell = createShell({ t, locale, accent: options.accent, position: options.position });
  const waiting = []; // [name, args] until the app is there
  const listeners = [];
  let app = null;
  let loading = null;

  function start() {
    if (!loading) {
      loading = load('app').then(({ createApp }) => {
        app = createApp({ ...options, locale, shell });
        for (const [event, fn] of listeners) app.on(event, fn);
        for (const [name, args] of waiting.splice(0)) app[name](...args);
      }, (err) => {
        loading = null; // the next press tries again
        console.warn(err.message);
      });
    }
    return loading;
  }

  function command(name) {
    return (...args) => {
      if (app) return app[name](...args);
      waiting.push([name, args]);
      start();
      return undefined;
    };
  }

  // Until the app takes it over, a press on the bubble opens the chat once it is there
  // (open, not toggle: the panel is closed until then, and a second press meanwhile must not close it).
  shell.onBubble = () => command('open')();
  for (const event of ['pointerenter', 'focus', 'touchstart']) {
    shell.bubble.el.addEventListener(event, start, { once: true, passive: true });
  }
  if (hasSavedConversation(options.siteKey)) start();

  return {
    open: command('open'),
    close: command('close'),
    toggle: command('toggle'),
    send: command('send'),
    state: () => (app ? app.state() : { ...IDLE }),
    on(event, fn) {
      if (app) app.on(event, fn);
      else listeners.push([event, fn]);
    },
    off(event, fn) {
      if (app) app.off(event, fn);
      const i = listeners.findIndex(([e, f]) => e === event && f === fn);
      if (i >= 0) listeners.splice(i, 1);
    },
  };
}
