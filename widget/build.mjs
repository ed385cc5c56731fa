// Bundles the widget with esbuild into three minified IIFEs, CSS inlined as text:
//
//   dist/parley.js         what a page loads: the bubble (and the loader of the rest)
//   dist/parley-app.js     the chat, fetched from beside parley.js when first needed
//   dist/parley-pusher.js  pusher-js, fetched by the Pusher transport when it first connects
//
//   node build.mjs           -> all three
//   node build.mjs --watch   -> rebuild on change
import * as esbuild from 'esbuild';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = new Set(process.argv.slice(2));
const pkg = JSON.parse(await readFile(new URL('./package.json', import.meta.url), 'utf8'));

// The stylesheet is imported as a string (loader "text"), minified first.
const minifiedCss = {
  name: 'minified-css',
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async ({ path }) => {
      const { code } = await esbuild.transform(await readFile(path, 'utf8'), { loader: 'css', minify: true });
      return { contents: code.trim(), loader: 'text' };
    });
  },
};

const options = {
  absWorkingDir: here,
  entryPoints: {
    parley: 'src/index.js',
    'parley-app': 'src/entries/app.js',
    'parley-pusher': 'src/entries/pusher.js',
  },
  outdir: 'dist',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020', 'chrome90', 'firefox90', 'safari15', 'edge90'],
  minify: true,
  legalComments: 'eof',
  banner: { js: `/*! Parley widget ${pkg.version} */` },
  plugins: [minifiedCss],
  logLevel: 'info',
};

if (args.has('--watch')) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
