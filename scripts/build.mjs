// `npm run build`: compiles src/ to dist/server/ (JavaScript, one file per module, source maps) with
// esbuild, and copies the files modules read at run time (CSV tables, JSON). Types are checked by `npm test`
// (tsc --noEmit), not here, so a build takes about a second. The web UI builds into dist/ui on its own.
//
// `npm start` and `npm pack` build first: when nothing in src/ is newer than the last build, nothing is
// done (`--force` builds anyway). Files are written in place, never removed first, so an engine starting
// from dist/server meanwhile finds every module; outputs of deleted sources are removed after.
import { build } from 'esbuild';
import { cp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const out = join(root, 'dist', 'server');
const stamp = join(out, '.build-stamp');
const started = performance.now();

/** Not part of the engine: tests, and the web UI's own sources (built by Vite). */
const skipped = (path) =>
  /\.test\.ts$/.test(path) || path.startsWith(`ui/web/`) || /(^|\/)vite\.config\.ts$/.test(path);

const files = (await readdir(src, { recursive: true, withFileTypes: true }))
  .filter((e) => e.isFile())
  .map((e) => relative(src, join(e.parentPath ?? e.path, e.name)))
  .filter((path) => !skipped(path));
const modules = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
const assets = files.filter((f) => /\.(csv|json)$/.test(f));

const mtime = (path) =>
  stat(path).then(
    (s) => s.mtimeMs,
    () => 0,
  );
const newest = Math.max(
  await mtime(fileURLToPath(import.meta.url)),
  ...(await Promise.all(files.map((f) => mtime(join(src, f))))),
);
if (!process.argv.includes('--force') && (await mtime(stamp)) >= newest) {
  process.stderr.write('sluice: dist/server is up to date\n');
  process.exit(0);
}

await build({
  entryPoints: modules.map((f) => join(src, f)),
  outdir: out,
  outbase: src,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
for (const asset of assets) await cp(join(src, asset), join(out, asset));

const expected = new Set([
  ...modules.flatMap((f) => [f.replace(/\.ts$/, '.js'), f.replace(/\.ts$/, '.js.map')]),
  ...assets,
  '.build-stamp',
]);
for (const e of await readdir(out, { recursive: true, withFileTypes: true }))
  if (e.isFile()) {
    const path = relative(out, join(e.parentPath ?? e.path, e.name));
    if (!expected.has(path)) await rm(join(out, path), { force: true });
  }
await writeFile(stamp, `${new Date().toISOString()}\n`);
const ms = Math.round(performance.now() - started);
process.stderr.write(`sluice: compiled ${modules.length} modules into dist/server in ${ms} ms\n`);
