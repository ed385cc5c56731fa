// Bundles the widget with esbuild: one minified IIFE, CSS inlined as text.
//
//   node build.mjs               -> dist/parley.js (pusher-js bundled)
//   node build.mjs --no-pusher   -> dist/parley.nopusher.js (the pusher transport swapped for a
//                                   stub: for sites on WebSocket/polling, and the size budget)
//   node build.mjs --watch       -> rebuild on change
//
// PARLEY_NO_PUSHER=1 does what --no-pusher does.
import * as esbuild from 'esbuild';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = new Set(process.argv.slice(2));
const noPusher = args.has('--no-pusher') || process.env.PARLEY_NO_PUSHER === '1';
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

// Without pusher-js, the pusher transport (the only importer of pusher-js) is
// swapped for a stub: a build for sites that use the WebSocket API or polling.
const withoutPusher = {
  name: 'without-pusher',
  setup(build) {
    build.onResolve({ filter: /\/transports\/pusher\.js$/ }, () => ({
      path: fileURLToPath(new URL('./src/transports/no-pusher.js', import.meta.url)),
    }));
  },
};

const options = {
  absWorkingDir: here,
  entryPoints: ['src/index.js'],
  outfile: noPusher ? 'dist/parley.nopusher.js' : 'dist/parley.js',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020', 'chrome90', 'firefox90', 'safari15', 'edge90'],
  minify: true,
  legalComments: 'eof',
  banner: { js: `/*! Parley widget ${pkg.version}${noPusher ? ' (without pusher-js)' : ' | includes pusher-js (MIT)'} */` },
  plugins: noPusher ? [minifiedCss, withoutPusher] : [minifiedCss],
  logLevel: 'info',
};

if (args.has('--watch')) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
