/**
 * Box benchmark: the same synthetic CT instances sent box-to-box between two Sluice processes over loopback
 * (push: the sender's PUSH box posts them; poll: the receiver's PUSH box pulls them from the sender's POLL
 * box), beside DCMTK storescu → storescp for the same files in the same run.
 *
 *   npm run bench:box -- [--count 500] [--rounds 3] [--keep]
 *
 * The sender is loaded once (storescu into its SCP, untimed). Each round starts a fresh receiver with an
 * empty data directory, pairs it with the sender, and times from `POST /api/boxes/{id}/send` until both
 * ends of the transaction are FINISHED (every image anonymized with the Basic Profile, deflated, sent,
 * stored, indexed and fsynced on the receiver, and acknowledged). storescp runs are timed from the start of
 * storescu until it exits. Modes are interleaved and rotated per round; figures are medians over rounds.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { makeInstance, newUid } from '../test/fixtures/dicom-fixtures.js';
import {
  installCleanupHandlers,
  keepTempDirs,
  Proc,
  registerTempDir,
  removeTempDir,
  run,
  syncDisks,
} from './lib/procs.js';
import { storescp } from './lib/receivers.js';
import { sluiceStartArgs } from './lib/engine.js';
import {
  basicAuth,
  dicomEcho,
  freePorts,
  httpJson,
  httpStatus,
  median,
  totalBytes,
  waitFor,
} from './lib/util.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const AUTH = basicAuth('admin', 'admin');

const HELP = `usage: npm run bench:box -- [options]
  --count N    instances to generate (512x512, 16-bit CT), default 500
  --rounds R   rounds (each mode once per round), default 3
  --keep       keep the temp dir (generated files and logs)
  --help`;

interface Options {
  count: number;
  rounds: number;
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '500' },
      rounds: { type: 'string', default: '3' },
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
  const int = (name: string, text: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  return { count: int('count', values.count), rounds: int('rounds', values.rounds), keep: values.keep };
}

// ------------------------------------------------------------------------------------------- engines

interface Engine {
  name: string;
  base: string;
  dicomPort: number;
  proc: Proc;
  api<T>(path: string, init?: RequestInit): Promise<T>;
  stop(): Promise<void>;
}

async function startEngine(name: string, root: string): Promise<Engine> {
  const [dicomPort, httpPort] = await freePorts(2);
  const dataDir = join(root, name, 'data');
  await mkdir(dataDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, TCP_NODELAY: '1' };
  for (const key of Object.keys(env)) if (key.startsWith('SLUICE_')) delete env[key];
  Object.assign(env, {
    SLUICE_DATA_DIR: dataDir,
    SLUICE_HTTP_PORT: String(httpPort),
    SLUICE_DICOM_PORT: String(dicomPort),
    SLUICE_ADMIN_PASSWORD: 'admin',
    // An idle box looks for work this often; a send wakes the pushing side at once, not the polling one.
    SLUICE_BOX_POLL_INTERVAL_MS: '100',
  });
  const proc = new Proc(process.execPath, sluiceStartArgs(), {
    env,
    cwd: REPO_ROOT,
    logFile: join(root, `${name}.log`),
    group: true,
  });
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    `${name} start`,
    async () =>
      (await httpStatus(`${base}/api/system/health`)) === 200 && (await dicomEcho('SLUICE', dicomPort))
        ? true
        : undefined,
    { timeoutMs: 60_000, intervalMs: 150, failed: () => (proc.running ? undefined : 'process exited') },
  );
  return {
    name,
    base,
    dicomPort,
    proc,
    api: async <T>(path: string, init: RequestInit = {}) =>
      (await httpJson(`${base}${path}`, {
        ...init,
        headers: { authorization: AUTH, 'content-type': 'application/json', ...(init.headers ?? {}) },
      })) as T,
    stop: async () => void (await proc.stop(15_000)),
  };
}

const post = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body) });

async function imageIds(engine: Engine): Promise<number[]> {
  const images = await engine.api<Array<{ id: number }>>(
    '/api/metadata/images/query',
    post({ startIndex: 0, count: 10_000, queryProperties: [] }),
  );
  return images.map((i) => i.id);
}

interface Box {
  id: number;
  baseUrl: string;
}

/** `server` creates a POLL box, `client` connects a PUSH box to it; answers both ids. */
async function pairBoxes(server: Engine, client: Engine, tag: string) {
  const poll = await server.api<Box>('/api/boxes/createconnection', post({ name: `${tag}-${client.name}` }));
  const push = await client.api<Box>(
    '/api/boxes/connect',
    post({ name: `${tag}-${server.name}`, baseUrl: poll.baseUrl }),
  );
  return { poll, push };
}

interface Transaction {
  id: number;
  boxId: number;
  outgoingTransactionId: number;
  status: string;
  sentImageCount?: number;
  receivedImageCount?: number;
}

/** Sends every image of the sender to `boxId` and times until both ends are FINISHED. */
async function transfer(
  sender: Engine,
  boxId: number,
  receiver: Engine,
  receiverBoxId: number,
  ids: number[],
) {
  const started = performance.now();
  const res = await fetch(`${sender.base}/api/boxes/${boxId}/send`, {
    method: 'POST',
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({
      profile: { options: [] },
      imageTagValuesSet: ids.map((imageId) => ({ imageId })),
    }),
  });
  if (res.status !== 204) throw new Error(`send: HTTP ${res.status} ${await res.text()}`);
  const outgoingId = Number(res.headers.get('x-sluice-transaction-id'));
  await waitFor(
    'both ends FINISHED',
    async () => {
      const out = (await sender.api<Transaction[]>('/api/boxes/outgoing?count=1000')).find(
        (t) => t.id === outgoingId,
      );
      const inc = (await receiver.api<Transaction[]>('/api/boxes/incoming?count=1000')).find(
        (t) => t.boxId === receiverBoxId && t.outgoingTransactionId === outgoingId,
      );
      if (out?.status === 'FAILED' || inc?.status === 'FAILED')
        throw new Error(`transaction FAILED: ${JSON.stringify({ out, inc })}`);
      return out?.status === 'FINISHED' && inc?.status === 'FINISHED' ? true : undefined;
    },
    { timeoutMs: 600_000, intervalMs: 25 },
  );
  const seconds = (performance.now() - started) / 1000;
  const received = await imageIds(receiver);
  if (received.length !== ids.length)
    throw new Error(`the receiver indexed ${received.length} images, expected ${ids.length}`);
  return seconds;
}

// ------------------------------------------------------------------------------------------------ main

type Mode = 'push' | 'poll' | 'storescp';
const LABEL: Record<Mode, string> = {
  push: 'Sluice → Sluice, box push',
  poll: 'Sluice → Sluice, box poll',
  storescp: 'storescu → storescp -pdu 131072 +B',
};

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
  const root = registerTempDir(await mkdtemp(join(tmpdir(), 'sluice-bench-box-')));
  const dir = join(root, 'instances');
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const study = newUid();
  const series = [newUid(), newUid()];
  for (let i = 0; i < options.count; i++) {
    const file = join(dir, `${String(i + 1).padStart(6, '0')}.dcm`);
    await writeFile(
      file,
      makeInstance({
        rows: 512,
        columns: 512,
        patientName: 'Bench^Box',
        patientId: 'BOX001',
        studyInstanceUid: study,
        seriesInstanceUid: series[i % 2],
        sopInstanceUid: newUid(),
        instanceNumber: i + 1,
      }),
    );
    files.push(file);
  }
  const bytes = await totalBytes(files);
  console.log(
    `generated ${options.count} instances (512x512, 16-bit CT) = ${(bytes / 1e6).toFixed(1)} MB; temp dir ${root}`,
  );

  const sender = await startEngine('sender', root);
  const load = await run('storescu', ['-aec', 'SLUICE', '127.0.0.1', String(sender.dicomPort), '+sd', dir], {
    env: { ...process.env, TCP_NODELAY: '1' },
  });
  if (load.code !== 0) throw new Error(`loading the sender failed: ${load.output.slice(-2000)}`);
  const ids = await imageIds(sender);
  if (ids.length !== options.count) throw new Error(`the sender indexed ${ids.length} of ${options.count}`);
  console.log(`sender loaded (storescu, untimed)`);

  const results: Record<Mode, number[]> = { push: [], poll: [], storescp: [] };
  const modes: Mode[] = ['push', 'poll', 'storescp'];
  let failures = 0;
  for (let round = 1; round <= options.rounds; round++) {
    const shift = (round - 1) % modes.length;
    for (const mode of [...modes.slice(shift), ...modes.slice(0, shift)]) {
      const runDir = registerTempDir(join(root, `r${round}-${mode}`));
      await mkdir(runDir, { recursive: true });
      let seconds: number | undefined;
      try {
        if (mode === 'storescp') {
          const rx = await storescp('tuned').start({
            runDir,
            logFile: join(root, `r${round}-storescp.log`),
            parallel: false,
            repoRoot: REPO_ROOT,
          });
          try {
            const started = performance.now();
            const exit = await run('storescu', ['-aec', rx.ae, '127.0.0.1', String(rx.port), '+sd', dir], {
              env: { ...process.env, TCP_NODELAY: '1' },
            });
            seconds = (performance.now() - started) / 1000;
            const { files: got } = await rx.counts();
            if (exit.code !== 0 || got !== options.count)
              throw new Error(`storescu exit ${exit.code}, storescp has ${got} files`);
          } finally {
            await rx.stop();
          }
        } else {
          const receiver = await startEngine(`receiver-r${round}-${mode}`, runDir);
          try {
            if (mode === 'push') {
              const { poll, push } = await pairBoxes(receiver, sender, `r${round}`);
              seconds = await transfer(sender, push.id, receiver, poll.id, ids);
            } else {
              const { poll, push } = await pairBoxes(sender, receiver, `r${round}`);
              seconds = await transfer(sender, poll.id, receiver, push.id, ids);
            }
          } finally {
            await receiver.stop();
          }
        }
        results[mode].push(seconds);
        console.log(
          `round ${round}/${options.rounds}  ${LABEL[mode].padEnd(36)} ${seconds.toFixed(2).padStart(6)} s` +
            `  ${(options.count / seconds).toFixed(1).padStart(7)} inst/s  ${(bytes / 1e6 / seconds).toFixed(1).padStart(6)} MB/s`,
        );
      } catch (err) {
        failures++;
        console.log(`round ${round}/${options.rounds}  ${LABEL[mode]} FAILED: ${(err as Error).message}`);
      } finally {
        removeTempDir(runDir);
        syncDisks();
      }
    }
  }
  await sender.stop();

  console.log(
    `\n## Results: ${options.count} instances (${(bytes / 1e6).toFixed(1)} MB), median of ${options.rounds} round(s), loopback\n`,
  );
  const storescpRate = options.count / median(results.storescp);
  const header = ['mode', 'inst/s', 'MB/s', 'min–max inst/s', 'ok runs', '× storescp'];
  const rows = modes.map((mode) => {
    const rates = results[mode].map((s) => options.count / s);
    const rate = options.count / median(results[mode]);
    return [
      LABEL[mode],
      rates.length ? rate.toFixed(1) : '–',
      rates.length ? (bytes / 1e6 / median(results[mode])).toFixed(1) : '–',
      rates.length ? `${Math.min(...rates).toFixed(1)}–${Math.max(...rates).toFixed(1)}` : '–',
      `${rates.length}/${options.rounds}`,
      mode === 'storescp' || !rates.length ? '' : `${(rate / storescpRate).toFixed(2)}×`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log([line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n'));
  console.log(
    '\nBox runs: from POST /api/boxes/{id}/send until both ends report FINISHED; each image is read, anonymized' +
      "\n(Basic Profile, a key recorded), deflated, sent over HTTP, inflated, run through the receiver's default" +
      '\npipeline (tag filters, reverse anonymization, storage with fsync, index) and acknowledged.' +
      '\nstorescp: bit-preserving, never fsyncs, no index, no anonymization; DICOM over one association.',
  );
  return failures ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('fatal:', err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
