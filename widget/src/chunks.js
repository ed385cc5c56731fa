/**
 * The widget's second and third bundles (parley-app.js: the chat itself;
 * parley-pusher.js: pusher-js), fetched from the folder `parley.js` came from
 * only when they are first needed, never from a CDN. Each is a classic script
 * (a static host need not send CORS headers for it, as it would for an ES
 * module) that hands its exports over by an event on its own <script>
 * element: no global is added to the page.
 */
const EVENT = 'parley:chunk';
const loading = new Map(); // url -> Promise<exports>

/** Called by a chunk's entry as it runs: gives its exports to whoever loaded it. */
export function defineChunk(exports) {
  const el = document.currentScript;
  if (el) el.dispatchEvent(new CustomEvent(EVENT, { detail: exports }));
}

/** Loads `parley-<name>.js` from `base` once; a failed load may be tried again. */
export function loadChunk(base, name, doc = document) {
  const url = `${String(base).replace(/\/?$/, '/')}parley-${name}.js`;
  if (!loading.has(url)) {
    const promise = new Promise((resolve, reject) => {
      const el = doc.createElement('script');
      let exports = null;
      el.src = url;
      el.async = true;
      el.addEventListener(EVENT, (e) => {
        exports = e.detail;
      });
      el.onload = () => (exports ? resolve(exports) : reject(new Error(`Parley: ${url} defined nothing`)));
      el.onerror = () => reject(new Error(`Parley: ${url} did not load`));
      doc.head.append(el);
    });
    loading.set(url, promise);
    promise.catch(() => loading.delete(url));
  }
  return loading.get(url);
}
