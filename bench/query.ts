/**
 * Metadata queries at scale: fills the SQLite index with N synthetic instances (default 1,000,000 in
 * 10,000 patients, 50,000 studies and 200,000 series, through the index adapter's own upsert), starts
 * Sluice on it, and measures Slicebox's metadata routes with 4 concurrent clients: p50 and p99 per route.
 *
 * Then ingest over DICOM with that index in place against an empty one (`--ingest-count 0` skips it).
 *
 * `--index clickhouse` does the same with the index in ClickHouse 18.16 (`SLUICE_INDEX`), started here on
 * loopback (bench/lib/services.ts): filled through the ClickHouse adapter's upsert with `--in-flight`
 * upserts at once (it writes concurrent upserts in one batch), a database per engine. `--state postgres`
 * puts the engines' state in PostgreSQL (`SLUICE_STATE`, started here too; the index's ids then come from
 * its sequences). The fill prints its rate every 5 s.
 *
 *   npm run bench:query -- [--count 1000000] [--requests 200] [--clients 4] [--ingest-count 300]
 *                          [--ingest-rounds 3] [--index sqlite|clickhouse] [--state sqlite|postgres]
 *                          [--in-flight 256] [--keep]
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openSqliteIndex } from '../src/storage/sqlite-index.js';
import { openClickHouseIndex } from '../src/storage/clickhouse-index/index.js';
import { fillIndex, formatSeconds, progressPrinter, uid } from './lib/synthetic-index.js';
import { basicAuth, freePorts, median, sleep } from './lib/util.js';
import { generate } from './lib/corpus.js';
import { installCleanupHandlers, keepTempDirs, Proc, registerTempDir, run } from './lib/procs.js';
import { sluiceEnv, sluiceStartArgs } from './lib/engine.js';
import { startServices, type Services } from './lib/services.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET_P99_MS = 50;

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    requests: { type: 'string', default: '200' },
    clients: { type: 'string', default: '4' },
    'ingest-count': { type: 'string', default: '300' },
    'ingest-rounds': { type: 'string', default: '3' },
    index: { type: 'string', default: 'sqlite' },
    state: { type: 'string', default: 'sqlite' },
    'in-flight': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
if (!['sqlite', 'clickhouse'].includes(values.index)) throw new Error('--index must be sqlite or clickhouse');
if (!['sqlite', 'postgres'].includes(values.state)) throw new Error('--state must be sqlite or postgres');
const onClickHouse = values.index === 'clickhouse';
/** SQLite gains nothing from concurrent upserts (its writes are synchronous); ClickHouse batches them. */
const inFlight = Number(values['in-flight'] ?? (onClickHouse ? 256 : 1));
const count = Number(values.count);
const setup = `index ${onClickHouse ? 'ClickHouse 18.16' : 'SQLite'}, state ${values.state === 'postgres' ? 'PostgreSQL' : 'SQLite'}`;
const shape = {
  instances: count,
  patients: Math.max(1, Math.round(count / 100)),
  studies: Math.max(1, Math.round(count / 20)),
  series: Math.max(1, Math.round(count / 5)),
};

interface Route {
  name: string;
  request: (i: number) => { path: string; body?: unknown };
}

const query = (level: string, properties: unknown[], extra: object = {}) => ({
  path: `/api/metadata/${level}/query`,
  body: { startIndex: 0, count: 20, queryProperties: properties, ...extra },
});

const ROUTES: Route[] = [
  {
    name: 'patients, a page',
    request: (i) => ({ path: `/api/metadata/patients?startindex=${(i * 37) % 5000}&count=20` }),
  },
  {
    name: 'patients, ordered by name',
    request: () => ({ path: '/api/metadata/patients?count=20&orderby=patientName' }),
  },
  { name: 'patients, filter', request: () => ({ path: '/api/metadata/patients?count=20&filter=SMITH' }) },
  {
    name: 'studies of a patient, by date',
    request: (i) => ({
      path: `/api/metadata/studies?patientid=${1 + ((i * 13) % shape.patients)}&count=20&orderby=studyDate&orderascending=false`,
    }),
  },
  {
    name: 'series of a study',
    request: (i) => ({ path: `/api/metadata/series?studyid=${1 + ((i * 17) % shape.studies)}&count=20` }),
  },
  {
    name: 'images of a series',
    request: (i) => ({ path: `/api/metadata/images?seriesid=${1 + ((i * 7) % shape.series)}&count=20` }),
  },
  {
    name: 'flatseries, a deep page',
    request: (i) => ({ path: `/api/metadata/flatseries?startindex=${100000 + i}&count=20` }),
  },
  {
    name: 'flatseries, ordered, filter',
    request: () => ({ path: '/api/metadata/flatseries?count=20&orderby=patientName&filter=JONES' }),
  },
  {
    name: 'query patients, like',
    request: () =>
      query('patients', [{ propertyName: 'patientName', operator: 'like', propertyValue: 'SMITH' }]),
  },
  {
    name: 'query studies, date range',
    request: () =>
      query('studies', [
        { propertyName: 'studyDate', operator: '>=', propertyValue: '20200101' },
        { propertyName: 'studyDate', operator: '<=', propertyValue: '20200630' },
      ]),
  },
  {
    name: 'query series, in',
    request: () =>
      query('series', [{ propertyName: 'modality', operator: 'in', propertyValue: ['CT', 'MR'] }]),
  },
  { name: 'query images, a deep page', request: (i) => query('images', [], { startIndex: 500000 + i }) },
  {
    name: 'query images, by SOP UID',
    request: (i) =>
      query('images', [
        { propertyName: 'sopInstanceUID', operator: '=', propertyValue: uid(5, (i * 7919) % count) },
      ]),
  },
  {
    name: 'query studies, by patient ID',
    request: (i) =>
      query('studies', [
        {
          propertyName: 'patientID',
          operator: '=',
          propertyValue: `PID${String((i * 31) % shape.patients).padStart(7, '0')}`,
        },
      ]),
  },
];

const pct = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function main(): Promise<void> {
  installCleanupHandlers();
  keepTempDirs(values.keep);
  const dataDir = registerTempDir(await mkdtemp(join(tmpdir(), 'sluice-query-')));
  await mkdir(dataDir, { recursive: true });
  const services =
    onClickHouse || values.state === 'postgres'
      ? await startServices({ clickhouse: onClickHouse, postgres: values.state === 'postgres' })
      : undefined;
  if (services) console.log(services.describe());
  try {
    await fill(dataDir, services?.settings('full').SLUICE_INDEX);
    const engine = await startEngine(dataDir, services?.settings('full'));
    try {
      await routes(engine);
      await compareIngest(engine, dataDir, services);
    } finally {
      await engine.proc.stop();
    }
  } finally {
    await services?.stop();
  }
}

/** Fills the index of the engine on `dataDir`: its SQLite file, or the ClickHouse database of `url`. */
async function fill(dataDir: string, url: string | undefined): Promise<void> {
  const started = performance.now();
  const index = url ? await openClickHouseIndex({ url }) : openSqliteIndex(join(dataDir, 'index.sqlite'));
  console.log(
    `filling the index (${setup}): ${count} instances in ${shape.patients} patients, ${shape.studies} studies,` +
      ` ${shape.series} series; ${inFlight} upsert(s) in flight`,
  );
  await fillIndex(index, shape, { inFlight, onProgress: progressPrinter(count) });
  // No files behind these rows: the start-up check must not remove them.
  await index.markConsistent();
  await index.close();
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `indexed ${count} instances in ${formatSeconds(seconds)} (${(count / seconds).toFixed(0)} inst/s)`,
  );
}

/** Every route, `--requests` times from `--clients` clients at once: p50 and p99. */
async function routes(engine: Engine): Promise<void> {
  const { base, auth } = engine;
  const requests = Number(values.requests);
  const clients = Number(values.clients);
  console.log(
    `\n## Metadata routes over ${count} instances (${setup}), ${clients} concurrent clients, ${requests} requests per route\n`,
  );
  console.log(
    'route'.padEnd(34),
    'p50 ms'.padStart(8),
    'p99 ms'.padStart(8),
    'rows'.padStart(6),
    `  target p99 < ${TARGET_P99_MS} ms`,
  );
  // Basic authentication costs one scrypt per user name and password (then remembered for 5 minutes): the
  // clients' first requests, sent together, share it. Paid here, timed apart, so that the routes measure
  // the queries.
  const authStarted = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const r = await fetch(`${base}/api/metadata/patients?startindex=0&count=1`, {
        headers: { Authorization: auth },
      });
      await r.arrayBuffer();
      if (!r.ok) throw new Error(`first request: HTTP ${r.status}`);
    }),
  );
  console.log(
    `(the ${clients} clients' first requests, together, with the password check: ${(performance.now() - authStarted).toFixed(1)} ms)`,
  );
  let met = true;
  for (const route of ROUTES) {
    const times: number[] = [];
    let rows = 0;
    let next = 0;
    const client = async () => {
      for (let i = next++; i < requests; i = next++) {
        const { path, body } = route.request(i);
        // Each client its own start (one shared across the clients would time another client's request).
        const started = performance.now();
        const r = await fetch(`${base}${path}`, {
          method: body ? 'POST' : 'GET',
          headers: { Authorization: auth, 'content-type': 'application/json' },
          body: body ? JSON.stringify(body) : undefined,
        });
        const json = (await r.json()) as unknown[];
        times.push(performance.now() - started);
        if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${JSON.stringify(json)}`);
        rows = Math.max(rows, json.length);
      }
    };
    await Promise.all(Array.from({ length: clients }, client));
    times.sort((a, b) => a - b);
    const p99 = pct(times, 0.99);
    met &&= p99 < TARGET_P99_MS;
    console.log(
      route.name.padEnd(34),
      pct(times, 0.5).toFixed(1).padStart(8),
      p99.toFixed(1).padStart(8),
      String(rows).padStart(6),
      `  ${p99 < TARGET_P99_MS ? 'MET' : 'NOT MET'}`,
    );
  }
  console.log(`\nevery route p99 < ${TARGET_P99_MS} ms: ${met ? 'MET' : 'NOT MET'}`);
}

interface Engine {
  proc: Proc;
  base: string;
  auth: string;
  dicomPort: number;
}

/** `sluice start` on `dataDir` with `settings` (SLUICE_INDEX, SLUICE_STATE), answering once its health route does. */
async function startEngine(dataDir: string, settings: Record<string, string> = {}): Promise<Engine> {
  const [httpPort, dicomPort] = await freePorts(2);
  const proc = new Proc(process.execPath, sluiceStartArgs(), {
    cwd: REPO_ROOT,
    env: { ...sluiceEnv(dataDir, httpPort, dicomPort), ...settings },
    logFile: join(dataDir, 'sluice.log'),
  });
  const base = `http://127.0.0.1:${httpPort}`;
  for (;;) {
    if (!proc.running) throw new Error(`sluice start exited with ${proc.exit!.code}:\n${proc.output(2000)}`);
    const ok = await fetch(`${base}/api/system/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(100);
  }
  return { proc, base, auth: basicAuth('admin', 'bench-secret'), dicomPort };
}

/**
 * Ingest with the full index against ingest into an empty one: rounds alternate, each sending a fresh corpus
 * (new UIDs) with storescu over one association to both engines.
 */
async function compareIngest(full: Engine, dataDir: string, services?: Services): Promise<void> {
  const instances = Number(values['ingest-count']);
  const rounds = Number(values['ingest-rounds']);
  if (!instances || !rounds) return;
  const emptyDir = registerTempDir(await mkdtemp(join(tmpdir(), 'sluice-query-empty-')));
  const empty = await startEngine(emptyDir, services?.settings('empty'));
  const rates: Record<'full' | 'empty', number[]> = { full: [], empty: [] };
  try {
    for (let round = 1; round <= rounds; round++) {
      const corpus = await generate(join(dataDir, `corpus-${round}`), instances, 1);
      for (const [name, engine] of [
        ['empty', empty],
        ['full', full],
      ] as const) {
        const started = performance.now();
        const exit = await run(
          'storescu',
          ['-aet', 'BENCH', '-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort), '+r', '+sd', corpus.dir],
          { env: { ...process.env, TCP_NODELAY: '1' } },
        );
        if (exit.code !== 0) throw new Error(`storescu to the ${name} index: ${exit.output.slice(-500)}`);
        rates[name].push(instances / ((performance.now() - started) / 1000));
      }
      console.log(
        `ingest round ${round}: empty index ${rates.empty.at(-1)!.toFixed(0)} inst/s, ${count} indexed ${rates.full.at(-1)!.toFixed(0)} inst/s`,
      );
    }
  } finally {
    await empty.proc.stop();
  }
  const ratio = median(rates.full) / median(rates.empty);
  console.log(
    `\n## Ingest (${setup}; storescu, 1 association, ${instances} new instances per round, median of ${rounds})\n\n` +
      `empty index          ${median(rates.empty).toFixed(0)} inst/s\n` +
      `${count} indexed      ${median(rates.full).toFixed(0)} inst/s\n` +
      `ratio ${ratio.toFixed(2)}   target >= 0.8: ${ratio >= 0.8 ? 'MET' : 'NOT MET'}`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('fatal:', err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
