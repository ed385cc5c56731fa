/**
 * The entry point: reads the embedding <script> tag and installs
 * `window.Parley`. A page needs only
 *
 *   <script src=".../parley.js" data-site-key="demo" data-api="https://api.example" async></script>
 *
 * and may add data-title, data-greeting, data-accent (#hex), data-position
 * (right | left) and data-locale (en | de). This bundle shows the bubble;
 * the chat (parley-app.js) and pusher-js (parley-pusher.js) are fetched
 * from the same folder as this script when first needed (loader.js).
 */
import { install } from './queue.js';
import { createLoader } from './loader.js';

const script = document.currentScript || document.querySelector('script[data-site-key]');

function options(el) {
  const d = (el && el.dataset) || {};
  return {
    siteKey: d.siteKey,
    api: d.api || (el && el.src ? new URL(el.src, location.href).origin : location.origin),
    title: d.title,
    greeting: d.greeting,
    accent: d.accent,
    position: d.position === 'left' ? 'left' : 'right',
    locale: d.locale,
    // The folder the chunks are fetched from: this script's own.
    chunkBase: el && el.src ? new URL('.', new URL(el.src, location.href)).href : `${location.origin}/`,
  };
}

function boot() {
  install(window, () => {
    const opts = options(script);
    if (!opts.siteKey) console.warn('Parley: the script tag needs data-site-key');
    return createLoader(opts);
  });
}

if (document.body) boot();
else document.addEventListener('DOMContentLoaded', boot, { once: true });
