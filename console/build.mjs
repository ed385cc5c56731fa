// Bundles the agent console with esbuild: one minified IIFE (pusher-js included),
// with index.html and styles.css copied next to it.
//
//   node build.mjs           -> dist/console.js, dist/index.html, dist/styles.css
//   node build.mjs --watch   -> rebuild on change
//
// dist/ also gets config.json when console/config.json exists (a local setup);
// a deployment puts its own config.json next to index.html.
import * as esbuild from 'esbuild';
import { access, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = new Set(process.argv.slice(2));
const pkg = JSON.parse(await readFile(new URL('./package.json', import.meta.url), 'utf8'));

async function copyStatic() {
  await mkdir(new URL('./dist/', import.meta.url), { recursive: true });
  await copyFile(new URL('./index.html', import.meta.url), new URL('./dist/index.html', import.meta.url));
  const css = await readFile(new URL('./src/styles.css', import.meta.url), 'utf8');
  const { code } = await esbuild.transform(css, { loader: 'css', minify: true });
  await writeFile(new URL('./dist/styles.css', import.meta.url), code);
  try {
    await access(new URL('./config.json', import.meta.url));
    await copyFile(new URL('./config.json', import.meta.url), new URL('./dist/config.json', import.meta.url));
  } catch {
    // no local config: the deployment brings one
  }
}

// Copies the static files after every (re)build, so --watch keeps them fresh too.
const copyPlugin = {
  name: 'copy-static',
  setup(build) {
    build.onEnd(async (result) => {
      if (!result.errors.length) await copyStatic();
    });
  },
};

const options = {
  absWorkingDir: here,
  entryPoints: ['src/index.js'],
  outfile: 'dist/console.js',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020', 'chrome90', 'firefox90', 'safari15', 'edge90'],
  minify: true,
  sourcemap: true,
  legalComments: 'eof',
  banner: { js: `/*! Parley agent console ${pkg.version} | includes pusher-js (MIT) */` },
  plugins: [copyPlugin],
  logLevel: 'info',
};

if (args.has('--watch')) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
