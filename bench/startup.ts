/**
 * Start-up with a large store: how long `sluice start` takes until it answers, with an empty data
 * directory, and with N stored, indexed instances after a clean stop and after kill -9.
 *
 *   npm run bench:startup -- [--count 100000] [--keep]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openSqliteIndex } from '../src/storage/sqlite-index.js';
import { openFsBlobStore } from '../src/storage/fs-blob-store.js';
import { fillBlobs, fillIndex } from './lib/synthetic-index.js';
import { freePorts, median } from './lib/util.js';
import { installCleanupHandlers, keepTempDirs, registerTempDir, syncDisks } from './lib/procs.js';
import { sluiceEnv, sluiceStartArgs } from './lib/engine.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = { cleanSecs: 5, crashSecs: 15 };

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
  },
});
const count = Number(values.count);
const rounds = Number(values.rounds);

async function start(dataDir: string): Promise<{ child: ChildProcess; seconds: number; log: () => string }> {
  const [httpPort, dicomPort] = await freePorts(2);
  const started = performance.now();
  const child = spawn(process.execPath, sluiceStartArgs(), {
    cwd: REPO_ROOT,
    env: sluiceEnv(dataDir, httpPort, dicomPort),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`engine exited:\n${out}`);
    const ok = await fetch(`http://127.0.0.1:${httpPort}/api/system/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, seconds: (performance.now() - started) / 1000, log: () => out };
    await new Promise((r) => setTimeout(r, 20));
  }
}

const stop = (child: ChildProcess, signal: NodeJS.Signals) =>
  new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });

async function main(): Promise<void> {
  installCleanupHandlers();
  keepTempDirs(values.keep);
  const root = registerTempDir(await mkdtemp(join(tmpdir(), 'sluice-startup-')));
  const full = join(root, 'full');
  const shape = {
    instances: count,
    patients: Math.max(1, count / 10),
    studies: Math.max(1, count / 2),
    series: Math.max(1, count / 2),
  };
  let t = performance.now();
  await mkdir(full, { recursive: true });
  const index = openSqliteIndex(join(full, 'index.sqlite'));
  await fillIndex(index, shape);
  await index.close();
  const blobs = await openFsBlobStore(join(full, 'storage'));
  await fillBlobs(blobs, shape);
  syncDisks();
  console.log(
    `filled ${count} stored, indexed instances in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const results: Record<string, number[]> = { empty: [], clean: [], crash: [] };
  for (let r = 0; r < rounds; r++) {
    const empty = await start(join(root, `empty-${r}`));
    results.empty.push(empty.seconds);
    await stop(empty.child, 'SIGTERM');

    // The first start after filling does the full check (no clean-stop marker): the crash case.
    const first = await start(full);
    await stop(first.child, 'SIGTERM');
    const clean = await start(full);
    results.clean.push(clean.seconds);
    await stop(clean.child, 'SIGKILL');
    const crash = await start(full);
    results.crash.push(crash.seconds);
    const line = crash
      .log()
      .split('\n')
      .find((l) => l.includes('start-up check'));
    await stop(crash.child, 'SIGTERM');
    console.log(
      `round ${r + 1}: empty ${empty.seconds.toFixed(2)} s, after clean stop ${clean.seconds.toFixed(2)} s, after kill -9 ${crash.seconds.toFixed(2)} s${line ? ` (${line.trim()})` : ''}`,
    );
  }
  t = median(results.clean);
  const crash = median(results.crash);
  console.log(
    `\n## Start-up until /api/system/health answers (median of ${rounds}), ${count} stored instances\n`,
  );
  console.log(
    `empty data directory            ${median(results.empty).toFixed(2)} s (process start-up, compiled engine)`,
  );
  console.log(
    `after a clean stop              ${t.toFixed(2)} s   target < ${TARGETS.cleanSecs} s: ${t < TARGETS.cleanSecs ? 'MET' : 'NOT MET'}`,
  );
  console.log(
    `after kill -9                   ${crash.toFixed(2)} s   target < ${TARGETS.crashSecs} s: ${crash < TARGETS.crashSecs ? 'MET' : 'NOT MET'}`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('fatal:', err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
