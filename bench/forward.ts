/**
 * Forwarding benchmark: DCMTK storescu → Sluice (receive, store, index, forward through the outbox) → DCMTK
 * storescp, beside storescu → storescp directly, with the same files in the same run.
 *
 *   npm run bench:forward -- [--count 500] [--rounds 3] [--quiet-ms 1000] [--batch-max 100] [--keep]
 *
 * Each round starts fresh receivers (loopback, TCP_NODELAY=1) and times, from the start of storescu:
 *  - direct: until storescu exits (storescp has answered every C-STORE);
 *  - via Sluice: until the destination storescp holds every instance; the "ingest" part ends when storescu
 *    exits (Sluice has acknowledged the last C-STORE), the "drain" part is the time from then until the
 *    last instance arrived at storescp (quiet period, batching and sending).
 * A third run sends to Sluice without a forwarding rule (what the outbox costs ingest). Figures are medians
 * over rounds; the order of the runs rotates from round to round.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  installCleanupHandlers,
  keepTempDirs,
  registerTempDir,
  removeTempDir,
  run,
  syncDisks,
} from './lib/procs.js';
import { sluiceReceiver, storescp, type RunningReceiver } from './lib/receivers.js';
import { countFiles, httpJson, median, waitFor } from './lib/util.js';
import { generate, type Corpus } from './lib/corpus.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET_RATIO = 0.8;

const HELP = `usage: npm run bench:forward -- [options]
  --count N        instances to generate (512x512, 16-bit CT), default 500
  --rounds R       rounds, default 3
  --quiet-ms MS    Sluice's SLUICE_FORWARD_QUIET_MS for the run, default 1000 (Sluice's default: 30000)
  --batch-max N    Sluice's SLUICE_FORWARD_BATCH_MAX, default 100 (the default)
  --keep           keep the temp dir (generated files and logs)
  --help`;

interface Options {
  count: number;
  rounds: number;
  quietMs: number;
  batchMax: number;
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '500' },
      rounds: { type: 'string', default: '3' },
      'quiet-ms': { type: 'string', default: '1000' },
      'batch-max': { type: 'string', default: '100' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const int = (name: string, text: string, min: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) {
      console.error(`--${name} must be an integer >= ${min}\n${HELP}`);
      process.exit(2);
    }
    return n;
  };
  return {
    count: int('count', values.count, 1),
    rounds: int('rounds', values.rounds, 1),
    quietMs: int('quiet-ms', values['quiet-ms'], 0),
    batchMax: int('batch-max', values['batch-max'], 1),
    keep: values.keep,
  };
}

interface Round {
  directSecs?: number;
  /** storescu → Sluice with no forwarding rule: what the outbox costs ingest. */
  plainSecs?: number;
  viaSecs?: number;
  ingestSecs?: number;
  drainMs?: number;
  error?: string;
}

const storescpDef = storescp('defaults');

async function sendAll(corpus: Corpus, ae: string, port: number): Promise<void> {
  const exit = await run(
    'storescu',
    ['-aet', 'BENCH', '-aec', ae, '127.0.0.1', String(port), '+r', '+sd', corpus.dir],
    {
      env: { ...process.env, TCP_NODELAY: '1' },
    },
  );
  if (exit.code !== 0)
    throw new Error(`storescu exited with ${exit.code ?? exit.signal}:\n${exit.output.slice(-1500)}`);
}

async function runDirect(corpus: Corpus, root: string, tag: string): Promise<number> {
  const runDir = registerTempDir(join(root, 'runs', `${tag}-direct`));
  await mkdir(runDir, { recursive: true });
  const scp = await storescpDef.start({
    runDir,
    logFile: join(root, 'logs', `${tag}-direct.log`),
    parallel: false,
    repoRoot: REPO_ROOT,
  });
  try {
    const started = performance.now();
    await sendAll(corpus, scp.ae, scp.port);
    const secs = (performance.now() - started) / 1000;
    const got = (await scp.counts()).files;
    if (got !== corpus.count) throw new Error(`storescp has ${got} of ${corpus.count} files`);
    return secs;
  } finally {
    await scp.stop();
    removeTempDir(runDir);
    syncDisks();
  }
}

/** Sluice without a forwarding rule: only the ingest time. */
async function runPlain(corpus: Corpus, root: string, tag: string): Promise<number> {
  const sluiceDir = registerTempDir(join(root, 'runs', `${tag}-plain`));
  await mkdir(sluiceDir, { recursive: true });
  let sluice: RunningReceiver | undefined;
  try {
    sluice = await sluiceReceiver('sluice', 'Sluice').start({
      runDir: sluiceDir,
      logFile: join(root, 'logs', `${tag}-plain.log`),
      parallel: false,
      repoRoot: REPO_ROOT,
    });
    const started = performance.now();
    await sendAll(corpus, sluice.ae, sluice.port);
    return (performance.now() - started) / 1000;
  } finally {
    await sluice?.stop();
    removeTempDir(sluiceDir);
    syncDisks();
  }
}

async function runVia(
  corpus: Corpus,
  root: string,
  tag: string,
  options: Options,
): Promise<Required<Omit<Round, 'error' | 'directSecs' | 'plainSecs'>>> {
  const destDir = registerTempDir(join(root, 'runs', `${tag}-dest`));
  const sluiceDir = registerTempDir(join(root, 'runs', `${tag}-sluice`));
  await mkdir(destDir, { recursive: true });
  await mkdir(sluiceDir, { recursive: true });
  let dest: RunningReceiver | undefined;
  let sluice: RunningReceiver | undefined;
  try {
    dest = await storescpDef.start({
      runDir: destDir,
      logFile: join(root, 'logs', `${tag}-dest.log`),
      parallel: false,
      repoRoot: REPO_ROOT,
    });
    sluice = await sluiceReceiver('sluice-forward', 'Sluice → storescp', undefined, {
      SLUICE_FORWARD_QUIET_MS: String(options.quietMs),
      SLUICE_FORWARD_BATCH_MAX: String(options.batchMax),
    }).start({
      runDir: sluiceDir,
      logFile: join(root, 'logs', `${tag}-sluice.log`),
      parallel: false,
      repoRoot: REPO_ROOT,
    });
    const { base, auth: authorization } = sluice.http!;
    const headers = { authorization, 'content-type': 'application/json' };
    const scu = (await httpJson(`${base}/api/scus`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        id: -1,
        name: 'storescp',
        aeTitle: dest.ae,
        host: '127.0.0.1',
        port: dest.port,
      }),
    })) as { id: number };
    await httpJson(`${base}/api/forwarding/rules`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        id: -1,
        source: { sourceType: 'scp', sourceName: '', sourceId: 1 },
        destination: { destinationType: 'scu', destinationName: '', destinationId: scu.id },
        keepImages: true,
      }),
    });
    const out = join(destDir, 'out');
    const started = performance.now();
    await sendAll(corpus, sluice.ae, sluice.port);
    const ingested = performance.now();
    const arrived = await waitFor(
      'every instance at the destination',
      async () => {
        const asked = performance.now();
        return (await countFiles(out)) >= corpus.count ? asked : undefined;
      },
      { timeoutMs: 120_000 + options.quietMs, intervalMs: 20 },
    );
    const got = await countFiles(out);
    if (got !== corpus.count) throw new Error(`destination has ${got} files, expected ${corpus.count}`);
    return {
      viaSecs: (arrived - started) / 1000,
      ingestSecs: (ingested - started) / 1000,
      drainMs: arrived - ingested,
    };
  } finally {
    await sluice?.stop();
    await dest?.stop();
    removeTempDir(destDir);
    removeTempDir(sluiceDir);
    syncDisks();
  }
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

async function main(): Promise<void> {
  installCleanupHandlers();
  const options = parseOptions(process.argv.slice(2));
  keepTempDirs(options.keep);
  const root = registerTempDir(await mkdtemp(join(tmpdir(), 'sluice-bench-forward-')));
  const corpus = await generate(root, options.count, 1);
  await mkdir(join(root, 'logs'), { recursive: true });
  const rounds: Round[] = [];
  for (let r = 1; r <= options.rounds; r++) {
    const round: Round = {};
    // The three runs rotate from round to round, so that drift of the machine affects them alike.
    const runs = ['direct', 'via', 'plain'] as const;
    const order = runs.map((_, i) => runs[(i + r - 1) % runs.length]);
    try {
      for (const which of order) {
        if (which === 'direct') round.directSecs = await runDirect(corpus, root, `r${r}`);
        else if (which === 'plain') round.plainSecs = await runPlain(corpus, root, `r${r}`);
        else Object.assign(round, await runVia(corpus, root, `r${r}`, options));
      }
    } catch (err) {
      round.error = (err as Error).message;
    }
    rounds.push(round);
    console.log(
      `round ${r}: ` +
        (round.error
          ? `failed: ${round.error}`
          : `direct ${fmt(corpus.count / round.directSecs!)} inst/s; via Sluice ${fmt(corpus.count / round.viaSecs!)} inst/s ` +
            `(ingest ${fmt(corpus.count / round.ingestSecs!)} inst/s, last instance ${fmt(round.drainMs!, 0)} ms after the last C-STORE); ` +
            `Sluice without a rule ${fmt(corpus.count / round.plainSecs!)} inst/s`),
    );
  }
  const ok = rounds.filter((r) => !r.error);
  if (!ok.length) {
    console.error('every round failed');
    process.exit(1);
  }
  const direct = median(ok.map((r) => corpus.count / r.directSecs!));
  const via = median(ok.map((r) => corpus.count / r.viaSecs!));
  const ingest = median(ok.map((r) => corpus.count / r.ingestSecs!));
  const drain = median(ok.map((r) => r.drainMs!));
  const plain = median(ok.map((r) => corpus.count / r.plainSecs!));
  const ratio = via / direct;
  console.log(
    `\n## Results: ${corpus.count} instances (${fmt(corpus.bytes / 1e6)} MB), median of ${ok.length} round(s); ` +
      `storescu and storescp with TCP_NODELAY=1, loopback; Sluice on pipelines/default.yaml with ` +
      `SLUICE_FORWARD_QUIET_MS=${options.quietMs}, SLUICE_FORWARD_BATCH_MAX=${options.batchMax}\n`,
  );
  console.log(`storescu → storescp directly                 ${fmt(direct).padStart(7)} inst/s`);
  console.log(`storescu → Sluice → storescp (end to end)     ${fmt(via).padStart(7)} inst/s`);
  console.log(`  of which storescu → Sluice (acknowledged)   ${fmt(ingest).padStart(7)} inst/s`);
  console.log(`storescu → Sluice without a forwarding rule   ${fmt(plain).padStart(7)} inst/s`);
  console.log(
    `ratio (end to end / direct)                   ${fmt(ratio, 2).padStart(7)}   target >= ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}`,
  );
  console.log(`last C-STORE into Sluice → last instance at storescp: ${fmt(drain, 0)} ms (median)`);
  if (ok.length < rounds.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
