/**
 * Ingest benchmark: the same synthetic CT instances sent with DCMTK storescu to Sluice, DCMTK storescp and
 * Orthanc, over one association and over several parallel ones.
 *
 *   npm run bench:ingest -- [--count 500] [--rounds 3] [--parallel 4] [--only sluice,storescp,orthanc]
 *                           [--blobs fs|s3] [--scale] [--keep]
 *
 * `--blobs s3` also runs Sluice with its files in S3: a MinIO the benchmark starts on loopback (built with
 * `go install` when absent, see test/helpers/minio.ts), a fresh key prefix per run, beside the embedded
 * file store in the same rounds. `--scale` also runs Sluice on the whole scale configuration: files in S3
 * (MinIO), the index in ClickHouse 18.16, the state in PostgreSQL, all started here on loopback
 * (bench/lib/services.ts), a fresh key prefix and fresh databases per run.
 *
 * Every run starts its receiver fresh with an empty data directory (loopback, TCP_NODELAY=1), times from the
 * start of the storescu processes until all of them have exited, then checks that they exited 0 and that the
 * receiver holds every instance. Receivers are interleaved within each round (and their order rotates from
 * round to round) so that drift of the machine affects all of them alike. Figures are medians over rounds.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  installCleanupHandlers,
  interrupted,
  keepTempDirs,
  registerTempDir,
  removeTempDir,
  run,
  syncDisks,
  type ExitInfo,
} from './lib/procs.js';
import { RECEIVERS, sluiceReceiver, type ReceiverDef } from './lib/receivers.js';
import { SCALE, startServices, type ServiceChoice, type Services } from './lib/services.js';
import { cpuMs, median, waitFor } from './lib/util.js';
import { cp, rm } from 'node:fs/promises';
import { generate, type Corpus } from './lib/corpus.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Sluice beside the embedded one: files in S3 (`--blobs s3`), the scale configuration (`--scale`). */
const VARIANTS: Array<{
  id: string;
  name: string;
  title: string;
  /** The option that asks for it. */
  option: 's3' | 'scale';
  services: ServiceChoice;
}> = [
  {
    id: 'sluice-s3',
    name: 'Sluice, files in S3',
    title: 'Sluice on S3',
    option: 's3',
    services: { s3: true },
  },
  {
    id: 'sluice-scale',
    name: 'Sluice, S3+ClickHouse+PG',
    title: 'Sluice on S3, ClickHouse and PostgreSQL',
    option: 'scale',
    services: SCALE,
  },
];

const TARGETS = { vsOrthanc: 1.5, peakRssMb: 300 };

/** The stages of Sluice's per-instance breakdown, in the order an instance meets them. */
const STAGES: Array<[string, string]> = [
  ['receive', 'receive (C-STORE request to last PDV)'],
  ['queue', 'wait for room in the pipeline'],
  ['parse', 'parse and check the header'],
  ['tag_filter', 'tag_filter'],
  ['reverse_anonymize', 'reverse_anonymize'],
  ['storage', 'storage sink'],
  ['storage.write', '  of which write'],
  ['storage.fsync', '  of which fsync'],
  ['storage.rename', '  of which rename + folder fsync'],
  ['storage.put', '  of which S3 PUT (or multipart upload)'],
  ['index', 'index sink'],
  ['forward', 'forward sink'],
  ['classify_series', 'classify_series sink'],
  ['pipeline', 'emit to last sink (with queues between)'],
  ['settle', 'settle and answer'],
];

const HELP = `usage: npm run bench:ingest -- [options]
  --count N        instances to generate (512x512, 16-bit CT), default 500
  --rounds R       rounds (each receiver and mode once per round), default 3
  --parallel P     associations of the parallel mode, default 4
  --only LIST      receivers, comma-separated, default sluice,storescp,orthanc
                   (sluice | sluice-classify = Sluice on bench/pipelines/classify-filter.yaml |
                    sluice-s3 = as --blobs s3 | sluice-scale = as --scale |
                    storescp = both storescp variants | storescp-defaults | storescp-tuned | orthanc)
  --blobs B        fs (default) | s3: also run Sluice with SLUICE_BLOBS on a MinIO started here, beside
                   the embedded file store (MinIO shares the machine's cores with Sluice)
  --scale          also run Sluice on the scale configuration (receiver sluice-scale): SLUICE_BLOBS on
                   MinIO, SLUICE_INDEX on ClickHouse 18.16, SLUICE_STATE on PostgreSQL, all started here
                   on loopback (sharing the cores), a fresh prefix and databases per run
  --keep           keep the temp dir (generated files and receiver logs)
  --help`;

// ------------------------------------------------------------------------------------------- arguments

interface Options {
  count: number;
  rounds: number;
  parallel: number;
  receivers: ReceiverDef[];
  /** Also Sluice on S3 (MinIO). */
  s3: boolean;
  /** Also Sluice on S3, ClickHouse and PostgreSQL. */
  scale: boolean;
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '500' },
      rounds: { type: 'string', default: '3' },
      parallel: { type: 'string', default: '4' },
      only: { type: 'string', default: 'sluice,storescp,orthanc' },
      blobs: { type: 'string', default: 'fs' },
      scale: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const int = (name: string, text: string, min: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const ids = new Set<string>();
  const wanted = { s3: values.blobs === 's3', scale: values.scale };
  for (const name of values.only.split(',').map((s) => s.trim().toLowerCase())) {
    if (!name) continue;
    const variant = VARIANTS.find((v) => v.id === name);
    if (variant) wanted[variant.option] = true;
    else if (name === 'storescp') ids.add('storescp').add('storescp-tuned');
    else if (name === 'storescp-defaults') ids.add('storescp');
    else if (name in RECEIVERS) ids.add(name);
    else throw new UsageError(`--only: unknown receiver "${name}"`);
  }
  if (!ids.size && !wanted.s3 && !wanted.scale) throw new UsageError('--only: name at least one receiver');
  const count = int('count', values.count, 1);
  const parallel = int('parallel', values.parallel, 2);
  if (parallel > count) throw new UsageError('--parallel must not exceed --count');
  if (values.blobs !== 'fs' && values.blobs !== 's3') throw new UsageError('--blobs must be fs or s3');
  return {
    count,
    rounds: int('rounds', values.rounds, 1),
    parallel,
    // Fixed order; rotated per round.
    receivers: Object.values(RECEIVERS).filter((r) => ids.has(r.id)),
    ...wanted,
    keep: values.keep,
  };
}

class UsageError extends Error {}

// ------------------------------------------------------------------------------------------------ runs

interface RunResult {
  receiver: ReceiverDef;
  associations: number;
  round: number;
  ok: boolean;
  seconds?: number;
  /** Time after the last storescu exited until the receiver's counts matched (asynchronous indexing). */
  lagMs?: number;
  peakRssMb?: number;
  /** Sluice only: CPU per instance (all threads, main thread) and the stage breakdown. */
  cpuPerInstanceMs?: { total: number; main: number };
  stages?: Record<string, { meanMs: number; p99Ms: number; count: number }>;
  error?: string;
}

async function runOnce(
  corpus: Corpus,
  receiver: ReceiverDef,
  associations: number,
  round: number,
): Promise<RunResult> {
  const tag = `r${round}-${receiver.id}-${associations}a`;
  const runDir = registerTempDir(join(corpus.root, 'runs', tag));
  const logFile = join(corpus.root, 'logs', `${tag}.log`);
  await mkdir(runDir, { recursive: true });
  await mkdir(dirname(logFile), { recursive: true });
  const result: RunResult = { receiver, associations, round, ok: false };

  let rx;
  try {
    rx = await receiver.start({ runDir, logFile, parallel: associations > 1, repoRoot: REPO_ROOT });
  } catch (err) {
    result.error = `did not start: ${(err as Error).message}`;
    removeTempDir(runDir);
    return result;
  }

  try {
    const sources = associations === 1 ? [['+r', '+sd', corpus.dir]] : corpus.parts.map((p) => ['+sd', p]);
    const env = { ...process.env, TCP_NODELAY: '1' };
    // storescp --fork receives in child processes, which its own figures would not hold.
    const cpuBefore =
      !receiver.id.startsWith('storescp') && rx.proc.pid !== undefined ? cpuMs(rx.proc.pid) : undefined;
    const started = performance.now();
    const exits = await Promise.all(
      sources.map((src) =>
        run('storescu', ['-aet', 'BENCH', '-aec', rx.ae, '127.0.0.1', String(rx.port), ...src], { env }),
      ),
    );
    const sent = performance.now();
    result.seconds = (sent - started) / 1000;

    const failed = exits.filter((e) => e.code !== 0);
    if (failed.length) {
      result.error = failed
        .map(
          (e) => `storescu ${describeExit(e)}:\n${indent(e.output.trim().split('\n').slice(-8).join('\n'))}`,
        )
        .join('\n');
    }

    let last: Record<string, number> = {};
    try {
      // Lag: from the senders' exit to the start of the count query that first saw everything.
      result.lagMs = await waitFor(
        'received count',
        async () => {
          const asked = performance.now();
          last = await rx.counts();
          return Object.values(last).every((n) => n === corpus.count) ? Math.max(0, asked - sent) : undefined;
        },
        { timeoutMs: failed.length ? 0 : receiver.settleTimeoutMs, intervalMs: 50 },
      );
    } catch (err) {
      const got = Object.entries(last)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ');
      const message = `expected ${corpus.count} instances, receiver has ${got || '?'} (${(err as Error).message})`;
      result.error = result.error ? `${result.error}\n${message}` : message;
    }
    result.peakRssMb = rx.peakRssMb?.();
    if (cpuBefore && rx.proc.pid !== undefined) {
      const after = cpuMs(rx.proc.pid);
      if (after)
        result.cpuPerInstanceMs = {
          total: (after.totalMs - cpuBefore.totalMs) / corpus.count,
          main: (after.mainMs - cpuBefore.mainMs) / corpus.count,
        };
      // Stages include the start-up check's few echoes; what the run sent dominates them.
      result.stages = await rx.stages?.().catch(() => undefined);
    }
    if (!rx.proc.running) {
      const message = `receiver exited during the run (${describeExit(rx.proc.exit!)})`;
      result.error = result.error ? `${result.error}\n${message}` : message;
    }
    result.ok = result.error === undefined;
    if (!result.ok) {
      const log = rx.proc.output(2000).trim();
      if (log) result.error += `\n--- receiver log tail (${logFile}) ---\n${log}`;
    }
  } finally {
    await rx.stop();
    removeTempDir(runDir);
    syncDisks(); // the next run should not pay for this one's writeback
  }
  return result;
}

// --------------------------------------------------------------------------------------------- report

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const indent = (text: string) => text.replace(/^/gm, '    ');
const modeLabel = (n: number) => (n === 1 ? '1 assoc' : `${n} assoc`);

function describeExit(e: ExitInfo): string {
  if (e.error) return `failed: ${e.error.message}`;
  return e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
}

function table(headers: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAlign[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

interface Summary {
  receiver: ReceiverDef;
  associations: number;
  okRuns: number;
  runs: number;
  instPerSec: number;
  mbPerSec: number;
  min: number;
  max: number;
  lagMs: number;
  peakRssMb: number;
}

function summarize(results: RunResult[], corpus: Corpus, options: Options): Summary[] {
  const out: Summary[] = [];
  for (const associations of [1, options.parallel]) {
    for (const receiver of options.receivers) {
      const runs = results.filter((r) => r.receiver === receiver && r.associations === associations);
      const ok = runs.filter((r) => r.ok && r.seconds);
      const rates = ok.map((r) => corpus.count / r.seconds!);
      const rss = runs
        .map((r) => r.peakRssMb)
        .filter((v): v is number => v !== undefined && Number.isFinite(v));
      out.push({
        receiver,
        associations,
        okRuns: ok.length,
        runs: runs.length,
        instPerSec: median(rates),
        mbPerSec: median(ok.map((r) => corpus.bytes / 1e6 / r.seconds!)),
        min: rates.length ? Math.min(...rates) : NaN,
        max: rates.length ? Math.max(...rates) : NaN,
        lagMs: median(ok.map((r) => r.lagMs ?? 0)),
        peakRssMb: rss.length ? Math.max(...rss) : NaN,
      });
    }
  }
  return out;
}

/** The disk's own rate for the same files: a copy of the folder followed by sync (durable ingest cannot beat it). */
async function diskRate(corpus: Corpus): Promise<number> {
  const target = join(corpus.root, 'disk-copy');
  syncDisks();
  const started = performance.now();
  await cp(corpus.dir, target, { recursive: true });
  syncDisks();
  const seconds = (performance.now() - started) / 1000;
  await rm(target, { recursive: true, force: true });
  syncDisks();
  return corpus.count / seconds;
}

/**
 * Sluice's CPU per instance and where the time of an instance went, per mode (medians over rounds); Orthanc's
 * CPU per instance beside it, measured the same way (its process's threads, before and after the run).
 */
function breakdown(results: RunResult[], options: Options): void {
  const receivers = [{ id: 'sluice', title: 'Sluice' }, ...VARIANTS, { id: 'orthanc', title: 'Orthanc' }];
  for (const { id, title } of receivers)
    for (const associations of [1, options.parallel]) {
      const runs = results.filter((r) => r.ok && r.receiver.id === id && r.associations === associations);
      const cpu = runs.map((r) => r.cpuPerInstanceMs).filter((c) => c !== undefined);
      const stages = runs.map((r) => r.stages).filter((s) => s !== undefined);
      if (!cpu.length && !stages.length) continue;
      console.log(`
### ${title}, ${modeLabel(associations)}: per instance (median over ${runs.length} run(s))`);
      if (cpu.length)
        console.log(
          `CPU ${fmt(median(cpu.map((c) => c.total)), 2)} ms (user + system, all threads)` +
            // Orthanc's main thread waits while its DICOM threads work: only Node's main thread says much.
            (id === 'orthanc' ? '' : `, of which main thread ${fmt(median(cpu.map((c) => c.main)), 2)} ms`),
        );
      if (!stages.length) continue;
      const rows = STAGES.filter(([id]) => stages.some((s) => s[id])).map(([id, label]) => [
        label,
        fmt(median(stages.map((s) => s[id]?.meanMs ?? NaN)), 3),
        fmt(median(stages.map((s) => s[id]?.p99Ms ?? NaN)), 2),
      ]);
      console.log(table(['stage', 'mean ms', 'p99 ms'], rows, [false, true, true]));
    }
  console.log(
    '\nStages overlap across instances in flight; "emit to last sink" holds the operators and sinks above it plus the time spent waiting between them.',
  );
}

function report(summaries: Summary[], corpus: Corpus, options: Options, disk: number[]): void {
  console.log(
    `\n## Results: ${corpus.count} instances (${mb(corpus.bytes)} MB), median of ${options.rounds} round(s)` +
      ` — storescu with TCP_NODELAY=1, receivers with TCP_NODELAY=1, loopback\n`,
  );
  const sluice = (associations: number) =>
    summaries.find((s) => s.receiver.id === 'sluice' && s.associations === associations);
  console.log(
    table(
      [
        'receiver',
        'mode',
        'inst/s',
        'MB/s',
        'min–max inst/s',
        'ok runs',
        'count lag ms',
        'Sluice ×',
        'peak RSS MB',
      ],
      summaries.map((s) => {
        const ours = sluice(s.associations);
        const ratio =
          s.receiver.id === 'sluice' || !ours || !s.okRuns || !ours.okRuns
            ? ''
            : `${fmt(ours.instPerSec / s.instPerSec, 2)}×`;
        return [
          s.receiver.name,
          modeLabel(s.associations),
          fmt(s.instPerSec),
          fmt(s.mbPerSec),
          s.okRuns ? `${fmt(s.min)}–${fmt(s.max)}` : '–',
          `${s.okRuns}/${s.runs}`,
          s.okRuns ? fmt(s.lagMs, 0) : '–',
          ratio,
          s.receiver.id.startsWith('sluice') ? fmt(s.peakRssMb, 0) : '',
        ];
      }),
      [false, false, true, true, true, true, true, true, true],
    ),
  );
  console.log(
    '\ninst/s and MB/s (10^6 bytes) from the start of storescu until all storescu processes exited;' +
      '\n"count lag": time from then until the receiver reported every instance (files and/or index);' +
      '\n"Sluice ×": Sluice\'s median inst/s divided by that receiver\'s, same mode.' +
      `\nstorescp: single process for 1 association, --fork (one child process per association) for ${options.parallel}.` +
      '\nDurability differs: storescp never fsyncs; Orthanc (SyncStorageArea defaults to true) and Sluice fsync each file.',
  );
  if (options.s3 || options.scale)
    console.log(
      'Sluice on S3 / S3+ClickHouse+PG: MinIO, ClickHouse 18.16 and PostgreSQL run on this machine (loopback) and' +
        '\nshare its cores; peak RSS and CPU are the Sluice process alone. MinIO syncs objects; ClickHouse does not' +
        '\nfsync its parts (its default); PostgreSQL runs with fsync off (test/helpers/postgres.ts).',
    );
  if (disk.length)
    console.log(
      `The disk itself (a copy of the same folder, then sync): ${fmt(median(disk))} inst/s (rounds ${fmt(Math.min(...disk))}–${fmt(Math.max(...disk))}).`,
    );

  const classify = (associations: number) =>
    summaries.find((s) => s.receiver.id === 'sluice-classify' && s.associations === associations);
  for (const associations of [1, options.parallel]) {
    const plain = sluice(associations);
    const labelled = classify(associations);
    if (plain?.okRuns && labelled?.okRuns) {
      const cost = 1 - labelled.instPerSec / plain.instPerSec;
      console.log(
        `${modeLabel(associations)}: classification and filtering cost ${fmt(cost * 100, 1)}% of ingest throughput` +
          ` (${fmt(labelled.instPerSec)} vs ${fmt(plain.instPerSec)} inst/s; target < 15%: ${cost < 0.15 ? 'MET' : 'NOT MET'})`,
      );
    }
  }

  console.log('\n## Targets');
  const hasSluice = options.receivers.some((r) => r.id === 'sluice');
  if (!hasSluice) {
    console.log('Sluice not measured (--only): targets not evaluated.');
    return;
  }
  const verdict = (ok: boolean) => (ok ? 'MET' : 'NOT MET');
  for (const associations of [1, options.parallel]) {
    const ours = sluice(associations);
    const peer = (ids: string[]) =>
      summaries
        .filter((s) => ids.includes(s.receiver.id) && s.associations === associations && s.okRuns)
        .sort((a, b) => b.instPerSec - a.instPerSec)[0];
    const checks: [string, Summary | undefined, number][] = [
      [`>= ${TARGETS.vsOrthanc}× Orthanc`, peer(['orthanc']), TARGETS.vsOrthanc],
    ];
    for (const [label, other, target] of checks) {
      let text: string;
      if (!ours?.okRuns) text = 'no successful Sluice run';
      else if (!other) text = 'peer not measured';
      else {
        const ratio = ours.instPerSec / other.instPerSec;
        text = `${fmt(ratio, 2)}× (${fmt(ours.instPerSec)} vs ${other.receiver.name} ${fmt(other.instPerSec)} inst/s): ${verdict(ratio >= target)}`;
      }
      console.log(`${modeLabel(associations).padEnd(8)} ${label.padEnd(42)} ${text}`);
    }
  }
  const rss = Math.max(...summaries.filter((s) => s.receiver.id === 'sluice').map((s) => s.peakRssMb));
  console.log(
    `${'all'.padEnd(8)} ${`peak RSS < ${TARGETS.peakRssMb} MB`.padEnd(42)} ` +
      (Number.isFinite(rss)
        ? `${fmt(rss, 0)} MB (max over Sluice runs): ${verdict(rss < TARGETS.peakRssMb)}`
        : 'not measured'),
  );
}

// ----------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  installCleanupHandlers();
  keepTempDirs(options.keep);

  // Sluice on services started below (before any run), beside the embedded one.
  const variants = VARIANTS.filter((v) => options[v.option]);
  let services: Services | undefined;
  options.receivers.splice(
    options.receivers.findIndex((r) => r.id === 'sluice') + 1,
    0,
    ...variants.map((v) =>
      sluiceReceiver(v.id, v.name, undefined, (ctx) => services!.settings(basename(ctx.runDir), v.services)),
    ),
  );
  const root = registerTempDir(await mkdtemp(join(tmpdir(), 'sluice-bench-')));
  console.log(
    `receivers: ${options.receivers.map((r) => r.name).join(', ')}; modes: 1 and ${options.parallel} associations;` +
      ` ${options.rounds} round(s); temp dir ${root}`,
  );
  const corpus = await generate(root, options.count, options.parallel);
  if (variants.length) {
    const choice = Object.assign({}, ...variants.map((v) => v.services)) as ServiceChoice;
    services = await startServices(choice, join(root, 'minio'));
    console.log(services.describe());
  }
  try {
    return await rounds(corpus, options);
  } finally {
    await services?.stop();
  }
}

/** Every round, then the report; answers the exit code. */
async function rounds(corpus: Corpus, options: Options): Promise<number> {
  const results: RunResult[] = [];
  const disk: number[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    disk.push(await diskRate(corpus));
    console.log(`round ${round}/${options.rounds}  disk: copy + sync ${fmt(disk[disk.length - 1])} inst/s`);
    const shift = (round - 1) % options.receivers.length;
    const order = [...options.receivers.slice(shift), ...options.receivers.slice(0, shift)];
    for (const associations of [1, options.parallel]) {
      for (const receiver of order) {
        if (interrupted()) throw new Error('interrupted');
        const r = await runOnce(corpus, receiver, associations, round);
        results.push(r);
        const head = `round ${round}/${options.rounds}  ${modeLabel(associations).padEnd(8)} ${receiver.name.padEnd(24)}`;
        if (r.ok) {
          const extra = [
            r.lagMs && r.lagMs >= 50 ? `count lag ${fmt(r.lagMs, 0)} ms` : '',
            r.peakRssMb !== undefined ? `peak RSS ${fmt(r.peakRssMb, 0)} MB` : '',
          ].filter(Boolean);
          console.log(
            `${head} ${fmt(r.seconds!, 2).padStart(6)} s  ${fmt(corpus.count / r.seconds!).padStart(7)} inst/s` +
              `  ${fmt(corpus.bytes / 1e6 / r.seconds!).padStart(6)} MB/s${extra.length ? `  (${extra.join(', ')})` : ''}`,
          );
        } else {
          console.log(`${head} FAILED\n${indent(r.error ?? 'unknown error')}`);
        }
      }
    }
  }

  report(summarize(results, corpus, options), corpus, options, disk);
  breakdown(results, options);
  const failures = results.filter((r) => !r.ok).length;
  if (failures) console.log(`\n${failures} of ${results.length} run(s) failed (see above).`);
  return failures ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('fatal:', err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
