// Module hooks for node:test: `import css from './styles.css'` gives the file's
// text, as esbuild's "text" loader does in build.mjs. Registered by
// helpers/app.js before it imports the UI.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export async function load(url, context, next) {
  if (!url.endsWith('.css')) return next(url, context);
  const text = await readFile(fileURLToPath(url), 'utf8');
  return { format: 'module', shortCircuit: true, source: `export default ${JSON.stringify(text)};` };
}
