/**
 * The entry point: loads `config.json` (next to index.html) and starts the
 * console. `window.ParleyConsole` is the one global: `state()` for tests.
 */
import { createConsole } from './app.js';

async function boot() {
  if (window.ParleyConsole) return; // loaded twice: the first one stays
  const root = document.getElementById('app');
  const placeholder = { state: () => ({ signedIn: false, site: null, provider: null, connected: false, openConversation: null, contiguousSeq: 0, presence: 'off' }) };
  window.ParleyConsole = placeholder;
  let config;
  try {
    const res = await fetch(new URL('config.json', document.baseURI), { cache: 'no-store' });
    if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
    config = await res.json();
  } catch (err) {
    root.textContent = `The console cannot start: ${err.message}`;
    return;
  }
  const app = createConsole({ config, root });
  window.ParleyConsole = { state: app.state, signOut: app.signOut };
  app.start();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot, { once: true });
else boot();
