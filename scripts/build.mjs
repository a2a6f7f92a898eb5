// `npm run build`: compiles src/ to dist/server/ (JavaScript, one file per module, source maps) with
// esbuild, and copies the files modules read at run time (CSV tables). Types are checked by `npm test`
// (tsc --noEmit), not here, so a build takes about a second. The web UI builds into dist/ui on its own.
import { build } from 'esbuild';
import { cp, readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const out = join(root, 'dist', 'server');
const started = performance.now();

/** Not part of the engine: tests, and the web UI's own sources (built by Vite). */
const skipped = (path) =>
  /\.test\.ts$/.test(path) || path.startsWith(`ui${'/'}web/`) || /(^|\/)vite\.config\.ts$/.test(path);

const files = (await readdir(src, { recursive: true, withFileTypes: true }))
  .filter((e) => e.isFile())
  .map((e) => relative(src, join(e.parentPath ?? e.path, e.name)))
  .filter((path) => !skipped(path));

await rm(out, { recursive: true, force: true });
await build({
  entryPoints: files.filter((f) => f.endsWith('.ts')).map((f) => join(src, f)),
  outdir: out,
  outbase: src,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
const assets = files.filter((f) => /\.(csv|json)$/.test(f));
for (const asset of assets) await cp(join(src, asset), join(out, asset));
const ms = Math.round(performance.now() - started);
process.stderr.write(
  `sluice: compiled ${files.length - assets.length} modules into dist/server in ${ms} ms\n`,
);
