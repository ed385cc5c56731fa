/**
 * `window.Parley`: the widget's one global. A page may queue commands before
 * the script has loaded (the tag is `async`, so the page's own code may run
 * first), as an array of commands:
 *
 *     window.Parley = window.Parley || [];
 *     Parley.push(['open']);
 *
 * On load the queue is replayed and replaced by the real object, whose
 * `push` runs commands at once. Loading the script a second time finds the
 * real object and does nothing.
 */
export const MARK = '__parley';
export const COMMANDS = ['open', 'close', 'toggle', 'send', 'on', 'off'];

/**
 * Installs the global on `win` unless it is there already. `create()` builds
 * the app (called once, only when installing); returns the global, or null
 * when this load is a second one.
 */
export function install(win, create) {
  const existing = win.Parley;
  if (existing && existing[MARK]) return null;
  const queued = Array.isArray(existing) ? existing.slice() : [];
  const app = create();

  function run(command) {
    const [name, ...args] = Array.isArray(command) ? command : [command];
    if (!COMMANDS.includes(name)) {
      if (win.console) win.console.warn(`Parley: unknown command ${JSON.stringify(name)}`);
      return undefined;
    }
    return app[name](...args);
  }

  const api = {
    push(...commands) {
      for (const c of commands) run(c);
    },
    /**
     * `{provider: 'pusher'|'websocket'|'polling'|null, connected, contiguousSeq, lastSeq, status, agentName}`
     * (lastSeq: contiguousSeq under its old name)
     */
    state: () => app.state(),
  };
  // open, close, toggle, send(text), on(event, fn), off(event, fn): the commands as methods too.
  for (const name of COMMANDS) api[name] = (...args) => app[name](...args);
  Object.defineProperty(api, MARK, { value: true });
  win.Parley = api;
  for (const c of queued) run(c);
  return api;
}
