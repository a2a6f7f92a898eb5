/**
 * Scale-out benchmark: Sluice as one process against Sluice split over Kafka (one front end and one or two
 * workers), all on the scale configuration's shared stores, plus the capacity of the pieces a site would
 * scale (Kafka per partition, ClickHouse inserts) and a capacity model built from what was measured.
 *
 *   npm run bench:scale -- [--count 400] [--rounds 3] [--partitions 12] [--studies 16] [--parallel 4]
 *                          [--kafka-events 20000] [--ch-count 50000] [--ch-in-flight 256] [--keep]
 *
 * Started here on loopback: MinIO (SLUICE_BLOBS), ClickHouse 18.16 (SLUICE_INDEX), PostgreSQL (SLUICE_STATE)
 * (bench/lib/services.ts) and one Kafka 4.4 broker (SLUICE_BUS; test/helpers/kafka.ts). Configurations,
 * interleaved within each round (their order rotates from round to round):
 *
 *   single     one process, SLUICE_ROLE unset (all)
 *   1 worker   SLUICE_ROLE=frontend + SLUICE_ROLE=worker
 *   2 workers  SLUICE_ROLE=frontend + 2 × SLUICE_ROLE=worker
 *
 * Every configuration and round gets fresh stores (a key prefix and databases of its own). The Kafka topic
 * and consumer group are the pipeline's (`sluice.instances.default`, `sluice-worker.default`) in every round:
 * a round starts only once the previous round's processes are stopped and the group's committed offsets are
 * at the end of the topic (lag 0, checked here through the admin API), so a round's workers start from those
 * offsets and see only the round's own events (checked: the workers consume exactly N events).
 *
 * Per run: storescu sends the N files over `--parallel` associations (TCP_NODELAY=1) to the front end (or the
 * single process); "acknowledged" is N / time until the last storescu exits; "C-STORE to indexed" is N / time
 * until `POST /api/metadata/images/query` on the front end answers N images (polled every 200 ms for the page
 * `{startIndex: N-1, count: 1}`, so that the polling costs the front end little; the whole list is then read
 * once to check that every SOP Instance UID is there once). Also: the
 * consumer lag a worker reports (`GET /api/pipelines`, measured by the process every 2 s, sampled here every
 * 0.5 s), CPU per instance of each process (/proc, from before the send until every instance is settled),
 * and the stage timings of each process over the run (`GET /api/pipelines/stages`, difference of two
 * snapshots). Engine logs go to files in the temp dir (`--keep` keeps them); their WARN and ERROR lines are
 * counted and summarized at the end.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { AssignerProtocol, Kafka, logLevel, type Admin } from 'kafkajs';
import { parseS3Url } from '../src/config.js';
import { groupOf, topicOf } from '../src/storage/event-bus.js';
import { openClickHouseIndex } from '../src/storage/clickhouse-index/index.js';
import { openPostgresIdBlocks } from '../src/storage/postgres-state/ids.js';
import { createTopic, startKafka, type KafkaBroker } from '../test/helpers/kafka.js';
import {
  installCleanupHandlers,
  interrupted,
  keepTempDirs,
  onInterrupt,
  Proc,
  registerTempDir,
  removeTempDir,
  run,
  type ExitInfo,
} from './lib/procs.js';
import { SCALE, startServices, type Services } from './lib/services.js';
import { SLUICE_COMMAND, sluiceStartArgs } from './lib/engine.js';
import { generate, type Corpus } from './lib/corpus.js';
import { fillIndex, formatSeconds, progressPrinter, type Shape } from './lib/synthetic-index.js';
import {
  basicAuth,
  cpuMs,
  dicomEcho,
  freePorts,
  httpJson,
  httpStatus,
  median,
  sleep,
  waitFor,
} from './lib/util.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PIPELINE = 'default';
const ADMIN_PASSWORD = 'bench-scale-secret';
const AUTH = basicAuth('admin', ADMIN_PASSWORD);
/** How long each process's idle CPU is measured before the send. */
const IDLE_MS = 3000;

/** The site of the capacity model. */
const SITE = { frontNodes: 2, workerNodes: 8, coresPerNode: 8 };

const HELP = `usage: npm run bench:scale -- [options]
  --count N          instances to generate (512x512, 16-bit CT), default 400
  --rounds R         rounds (each configuration once per round), default 3
  --partitions P     partitions of the pipeline's topic (SLUICE_BUS_PARTITIONS), default 12
  --studies S        studies the instances are spread over (events are keyed by study), default 16
  --parallel A       storescu associations at once, default 4
  --kafka-events E   events of the Kafka capacity measurement (1 partition), default 20000; 0 skips it
  --ch-count C       instances of the ClickHouse insert measurement, default 50000; 0 skips it
  --ch-in-flight F   upserts in flight during the ClickHouse measurement, default 256
  --keep             keep the temp dir (generated files and engine logs)
  --help`;

// ------------------------------------------------------------------------------------------- arguments

interface Options {
  count: number;
  rounds: number;
  partitions: number;
  studies: number;
  parallel: number;
  kafkaEvents: number;
  chCount: number;
  chInFlight: number;
  keep: boolean;
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '400' },
      rounds: { type: 'string', default: '3' },
      partitions: { type: 'string', default: '12' },
      studies: { type: 'string', default: '16' },
      parallel: { type: 'string', default: '4' },
      'kafka-events': { type: 'string', default: '20000' },
      'ch-count': { type: 'string', default: '50000' },
      'ch-in-flight': { type: 'string', default: '256' },
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
  const options: Options = {
    count: int('count', values.count, 1),
    rounds: int('rounds', values.rounds, 1),
    partitions: int('partitions', values.partitions, 1),
    studies: int('studies', values.studies, 1),
    parallel: int('parallel', values.parallel, 1),
    kafkaEvents: int('kafka-events', values['kafka-events'], 0),
    chCount: int('ch-count', values['ch-count'], 0),
    chInFlight: int('ch-in-flight', values['ch-in-flight'], 1),
    keep: values.keep,
  };
  if (options.parallel > options.count) throw new UsageError('--parallel must not exceed --count');
  return options;
}

// ------------------------------------------------------------------------------------------- processes

interface Config {
  id: string;
  name: string;
  /** 0: one process with every role. */
  workers: number;
}

const CONFIGS: Config[] = [
  { id: 'single', name: 'single', workers: 0 },
  { id: 'w1', name: '1 worker', workers: 1 },
  { id: 'w2', name: '2 workers', workers: 2 },
];

interface Member {
  /** single | frontend | worker1 | worker2 */
  label: string;
  proc: Proc;
  base: string;
  dicomPort: number;
  logFile: string;
}

/** Starts one engine (the compiled one, as `npm start` runs it) and waits until it answers. */
async function startMember(
  label: string,
  role: 'all' | 'frontend' | 'worker',
  runDir: string,
  logFile: string,
  settings: Record<string, string>,
): Promise<Member> {
  const [dicomPort, httpPort] = await freePorts(2);
  const dataDir = join(runDir, label);
  await mkdir(dataDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, TCP_NODELAY: '1' };
  for (const key of Object.keys(env)) if (key.startsWith('SLUICE_')) delete env[key];
  Object.assign(env, {
    SLUICE_DATA_DIR: dataDir,
    SLUICE_HTTP_HOST: '127.0.0.1',
    SLUICE_HTTP_PORT: String(httpPort),
    SLUICE_DICOM_HOST: '127.0.0.1',
    SLUICE_DICOM_PORT: String(dicomPort),
    SLUICE_AE_TITLE: 'SLUICE',
    UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16',
    SLUICE_ADMIN_USER: 'admin',
    SLUICE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    ...settings,
    ...(role === 'all' ? {} : { SLUICE_ROLE: role }),
  });
  const proc = new Proc(process.execPath, sluiceStartArgs(), {
    env,
    cwd: REPO_ROOT,
    logFile,
    group: true,
  });
  const base = `http://127.0.0.1:${httpPort}`;
  const receives = role !== 'worker';
  try {
    await waitFor(
      `Sluice ${label}`,
      async () =>
        (await httpStatus(`${base}/api/system/health`)) === 200 &&
        (!receives || (await dicomEcho('SLUICE', dicomPort)))
          ? true
          : undefined,
      {
        timeoutMs: 120_000,
        intervalMs: 200,
        failed: () => (proc.exit ? `exited (${describeExit(proc.exit)}) before it was ready` : undefined),
      },
    );
  } catch (err) {
    await proc.stop(2000);
    throw new Error(`${(err as Error).message}\n--- log tail (${logFile}) ---\n${proc.output(3000).trim()}`);
  }
  return { label, proc, base, dicomPort, logFile };
}

const getJson = (m: Member, path: string) =>
  httpJson(`${m.base}${path}`, { headers: { authorization: AUTH } });

interface PipelineView {
  name: string;
  inFlight: number;
  acknowledged: number;
  dropped: number;
  quarantined: number;
  bus?: {
    frontend: boolean;
    worker: boolean;
    published: number;
    consumed: number;
    lag?: Array<{ partition: number; lag: number }>;
    lagAt?: string;
  };
}

async function pipeline(m: Member): Promise<PipelineView> {
  const all = (await getJson(m, '/api/pipelines')) as PipelineView[];
  const found = all.find((p) => p.name === PIPELINE);
  if (!found) throw new Error(`${m.label}: no pipeline "${PIPELINE}" in /api/pipelines`);
  return found;
}

type Stages = Record<string, { count: number; totalMs: number }>;

const stages = async (m: Member) => (await getJson(m, '/api/pipelines/stages')) as Stages;

/** What happened between two snapshots of the stage timings. */
function stageDiff(before: Stages, after: Stages): Stages {
  const out: Stages = {};
  for (const [stage, a] of Object.entries(after)) {
    const b = before[stage] ?? { count: 0, totalMs: 0 };
    if (a.count > b.count) out[stage] = { count: a.count - b.count, totalMs: a.totalMs - b.totalMs };
  }
  return out;
}

function addStages(into: Stages, more: Stages): Stages {
  for (const [stage, s] of Object.entries(more)) {
    const t = (into[stage] ??= { count: 0, totalMs: 0 });
    t.count += s.count;
    t.totalMs += s.totalMs;
  }
  return into;
}

/** POST /api/metadata/images/query, one page. */
async function imagesPage(m: Member, startIndex: number, count: number): Promise<unknown[]> {
  const body = await httpJson(`${m.base}/api/metadata/images/query`, {
    method: 'POST',
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ startIndex, count, queryProperties: [] }),
  });
  if (!Array.isArray(body)) throw new Error(`images/query did not answer an array: ${JSON.stringify(body)}`);
  return body;
}

/** Every indexed image's SOP Instance UID, page by page (the API caps a page at 10,000). */
async function indexedSops(m: Member): Promise<string[]> {
  const out: string[] = [];
  for (let startIndex = 0; ; startIndex += 10_000) {
    const page = (await imagesPage(m, startIndex, 10_000)) as Array<{ sopInstanceUID?: { value?: string } }>;
    out.push(...page.map((i) => i.sopInstanceUID?.value ?? '?'));
    if (page.length < 10_000) return out;
  }
}

/** The objects under the run's prefix: stored (`.dcm`, outside incoming/) and left in the incoming area. */
async function s3Objects(settings: Record<string, string>): Promise<{ stored: number; incoming: number }> {
  const { bucket, prefix } = parseS3Url(settings.SLUICE_BLOBS);
  const client = new S3Client({
    endpoint: settings.AWS_ENDPOINT_URL_S3,
    region: settings.AWS_REGION ?? 'us-east-1',
    forcePathStyle: true,
    credentials: {
      accessKeyId: settings.AWS_ACCESS_KEY_ID,
      secretAccessKey: settings.AWS_SECRET_ACCESS_KEY,
    },
  });
  let stored = 0;
  let incoming = 0;
  try {
    for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix }))
      for (const o of page.Contents ?? []) {
        if (o.Key?.startsWith(`${prefix}incoming/`)) incoming++;
        else if (o.Key?.endsWith('.dcm')) stored++;
      }
  } finally {
    client.destroy();
  }
  return { stored, incoming };
}

// ------------------------------------------------------------------------------------------------ Kafka

/** The group's lag on the pipeline's topic, from the broker (0 when the topic does not exist yet). */
async function groupLag(admin: Admin): Promise<number> {
  const topic = topicOf(PIPELINE);
  const { topics } = await admin.fetchTopicMetadata({ topics: [] });
  if (!topics.some((t) => t.name === topic)) return 0;
  const [ends, groups] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId: groupOf(PIPELINE), topics: [topic] }),
  ]);
  const committed = new Map(
    (groups.find((g) => g.topic === topic)?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
  );
  let lag = 0;
  for (const e of ends) {
    const at = committed.get(e.partition) ?? -1;
    lag += Math.max(0, Number(e.high) - (at < 0 ? Number(e.low) : at));
  }
  return lag;
}

/** Waits until the workers' group is stable with `members` members; answers the partitions of each member. */
async function groupReady(admin: Admin, members: number): Promise<Map<string, number>> {
  return waitFor(
    `consumer group with ${members} member(s)`,
    async () => {
      const { groups } = await admin.describeGroups([groupOf(PIPELINE)]);
      const g = groups[0];
      if (!g || g.state !== 'Stable' || g.members.length !== members) return undefined;
      const partitions = new Map<string, number>();
      for (const m of g.members) {
        const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
        partitions.set(m.clientId, assignment?.assignment[topicOf(PIPELINE)]?.length ?? 0);
      }
      return partitions;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

/** An event as a front end publishes it (src/storage/event-bus.ts InstanceEvent), for the capacity test. */
function sampleEvent(n: number): { key: string; value: string } {
  const uid = (kind: number) => `1.2.826.0.1.3680043.10.1337.${kind}.${String(n).padStart(30, '7')}`;
  const study = `1.2.826.0.1.3680043.10.1337.2.${String(n % 16).padStart(32, '3')}`;
  const event = {
    id: randomUUID(),
    pipeline: PIPELINE,
    origin: { sourceType: 'scp', sourceId: 1, sourceName: 'DICOM SCP', detail: 'BENCH@127.0.0.1:49152' },
    blobKey: randomUUID(),
    size: 525_010,
    header: {
      sopInstanceUid: uid(5),
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      studyInstanceUid: study,
      seriesInstanceUid: uid(3),
      modality: 'CT',
    },
    publishedAt: Date.now(),
  };
  return { key: study, value: JSON.stringify(event) };
}

interface KafkaCapacity {
  events: number;
  bytes: number;
  producePerSec: number;
  consumePerSec: number;
}

/**
 * Kafka alone, one partition: `events` events produced in batches of 100 by an idempotent producer
 * (acks=-1, one request in flight, as the front ends' bus), then consumed by one member of a group that
 * commits after each batch (as the workers do).
 */
async function kafkaCapacity(broker: KafkaBroker, events: number): Promise<KafkaCapacity> {
  const topic = `bench.capacity.${Date.now().toString(36)}`;
  await createTopic(broker.brokers, topic, 1);
  const kafka = new Kafka({
    clientId: 'sluice-bench-capacity',
    brokers: [broker.brokers],
    logLevel: logLevel.ERROR,
  });
  const messages = Array.from({ length: events }, (_, n) => sampleEvent(n));
  const bytes = median(messages.map((m) => Buffer.byteLength(m.value)));

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let started = performance.now();
  try {
    for (let i = 0; i < events; i += 100)
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 100) });
  } finally {
    await producer.disconnect();
  }
  const producePerSec = (events / (performance.now() - started)) * 1000;

  const consumer = kafka.consumer({
    groupId: `${topic}.group`,
    maxWaitTimeInMs: 200,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
  });
  await consumer.connect();
  let consumePerSec = NaN;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let seen = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    // From the moment the member has its partition: the join itself is not the partition's rate.
    consumer.on(consumer.events.GROUP_JOIN, () => (started = performance.now()));
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        if (!batch.messages.length) return;
        for (const m of batch.messages) JSON.parse(m.value!.toString());
        const last = batch.messages[batch.messages.length - 1].offset;
        resolveOffset(last);
        await consumer.commitOffsets([
          { topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
        ]);
        seen += batch.messages.length;
        if (seen >= events) done();
      },
    });
    await Promise.race([all, sleep(120_000).then(() => Promise.reject(new Error('consume timed out')))]);
    consumePerSec = (events / (performance.now() - started)) * 1000;
  } finally {
    await consumer.disconnect();
  }
  return { events, bytes, producePerSec, consumePerSec };
}

/** ClickHouse alone: `count` synthetic instances upserted through the index adapter, ids from PostgreSQL. */
async function clickHouseCapacity(services: Services, count: number, inFlight: number): Promise<number> {
  const settings = services.settings('capacity-clickhouse');
  const index = await openClickHouseIndex({
    url: settings.SLUICE_INDEX,
    ids: await openPostgresIdBlocks(settings.SLUICE_STATE),
  });
  const shape: Shape = {
    instances: count,
    patients: Math.max(1, Math.round(count / 100)),
    studies: Math.max(1, Math.round(count / 20)),
    series: Math.max(1, Math.round(count / 5)),
  };
  const started = performance.now();
  try {
    await fillIndex(index, shape, { inFlight, onProgress: progressPrinter(count, 10_000) });
  } finally {
    await index.close();
  }
  return (count / (performance.now() - started)) * 1000;
}

// ------------------------------------------------------------------------------------------------ runs

interface Cpu {
  totalMs: number;
  mainMs: number;
}

interface ProcessFigures {
  label: string;
  /** Per instance sent, from before the send until every instance was settled. */
  cpu?: Cpu;
  /** CPU while idle just before the send, ms per second. */
  idleMsPerSec?: number;
  /** `cpu.totalMs` less the idle rate over the run's duration: what the instances themselves cost. */
  netMs?: number;
  stages?: Stages;
  /** Partitions of the pipeline's topic this worker had. */
  partitions?: number;
  status?: PipelineView;
  warnings: number;
  errors: number;
}

interface RunResult {
  config: Config;
  round: number;
  ok: boolean;
  error?: string;
  ackSeconds?: number;
  e2eSeconds?: number;
  /** Until every instance was settled (acknowledged by all sinks / consumed and committed). */
  settledSeconds?: number;
  /** Worker-reported lag, summed over partitions, every 0.5 s from the start of the send. */
  lag: Array<number | undefined>;
  /** When a worker first reported lag 0 measured after every instance was settled. */
  lagZeroSeconds?: number;
  processes: ProcessFigures[];
  /** Group lag on the broker before the round (should be 0). */
  lagBefore?: number;
  checks?: { indexed: number; distinct: number; stored: number; incoming: number };
}

function describeExit(e: ExitInfo): string {
  if (e.error) return `failed: ${e.error.message}`;
  return e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
}

async function logCounts(file: string): Promise<{ warnings: number; errors: number; lines: string[] }> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n').filter((l) => /\b(WARN|ERROR|FATAL)\b/.test(l));
  return {
    warnings: lines.filter((l) => /\bWARN\b/.test(l)).length,
    errors: lines.filter((l) => /\b(ERROR|FATAL)\b/.test(l)).length,
    lines,
  };
}

/** Distinct WARN/ERROR messages of all engine logs, with counts (timestamps and ids left out). */
const logMessages = new Map<string, number>();

/**
 * `[time] LEVEL: component: message {json}` → `LEVEL: component: message — error [role]`, with the `error`
 * (or `err`) field of the JSON, numbers and ids masked, so that equal messages of different runs count together.
 */
function logMessage(line: string, label: string): string {
  const body = line.replace(/^\[[^\]]*\]\s*/, '');
  const brace = body.indexOf(' {');
  const head = brace >= 0 ? body.slice(0, brace) : body;
  const detail = brace >= 0 ? /"(?:error|err|exception)":"([^"]*)"/.exec(body.slice(brace))?.[1] : undefined;
  const text = `${head}${detail ? ` — ${detail}` : ''}`
    .replace(/\(key: \d+, version: \d+\)/, '')
    .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>')
    .replace(/\d+(\.\d+)*/g, 'N');
  return `${text.slice(0, 220)} [${label.replace(/\d+$/, '')}]`;
}

/** What every run of a benchmark round shares. */
interface RunContext {
  root: string;
  corpus: Corpus;
  services: Services;
  broker: KafkaBroker;
  admin: Admin;
  options: Options;
}

async function runOnce(ctx: RunContext, config: Config, round: number): Promise<RunResult> {
  const { corpus, services, broker, admin, options } = ctx;
  const name = `r${round}-${config.id}`;
  const runDir = registerTempDir(join(ctx.root, 'runs', name));
  await mkdir(runDir, { recursive: true });
  await mkdir(join(ctx.root, 'logs'), { recursive: true });
  const result: RunResult = { config, round, ok: false, lag: [], processes: [] };
  const settings = services.settings(name);
  const split = config.workers > 0;
  const shared = split
    ? { ...settings, SLUICE_BUS: broker.url, SLUICE_BUS_PARTITIONS: String(options.partitions) }
    : settings;
  const members: Member[] = [];
  const logOf = (label: string) => join(ctx.root, 'logs', `${name}-${label}.log`);
  let stopSampler = async () => {};
  try {
    if (split) {
      result.lagBefore = await groupLag(admin);
      if (result.lagBefore > 0)
        throw new Error(
          `the workers' group has ${result.lagBefore} events left from before this run: its workers would take them`,
        );
    }
    const started = await Promise.allSettled([
      startMember(
        split ? 'frontend' : 'single',
        split ? 'frontend' : 'all',
        runDir,
        logOf(split ? 'frontend' : 'single'),
        shared,
      ),
      ...Array.from({ length: config.workers }, (_, k) =>
        startMember(`worker${k + 1}`, 'worker', runDir, logOf(`worker${k + 1}`), shared),
      ),
    ]);
    for (const s of started) if (s.status === 'fulfilled') members.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [front, ...workers] = members;
    const figures = new Map<Member, ProcessFigures>(
      members.map((m) => [m, { label: m.label, warnings: 0, errors: 0 }]),
    );
    if (split) {
      const partitions = await groupReady(admin, config.workers);
      for (const w of workers)
        figures.get(w)!.partitions = [...partitions].find(([id]) => id.endsWith(`-${w.proc.pid}`))?.[1];
    }

    // Idle CPU (heartbeats, the state store followed every second, lag measured every 2 s), then the run.
    const idle0 = members.map((m) => cpuMs(m.proc.pid!));
    await sleep(IDLE_MS);
    members.forEach((m, i) => {
      const now = cpuMs(m.proc.pid!);
      if (now && idle0[i])
        figures.get(m)!.idleMsPerSec = ((now.totalMs - idle0[i]!.totalMs) * 1000) / IDLE_MS;
    });
    const stagesBefore = await Promise.all(members.map(stages));
    const cpuBefore = members.map((m) => cpuMs(m.proc.pid!));
    const t0 = performance.now();
    const since = () => (performance.now() - t0) / 1000;

    // Lag as one worker reports it, every 0.5 s, until it reports 0 measured after everything settled.
    let sampling = split;
    let settledAt: number | undefined;
    const sampler = (async () => {
      while (sampling) {
        const tick = performance.now();
        try {
          const bus = (await pipeline(workers[0])).bus;
          const lag = bus?.lag?.reduce((n, p) => n + p.lag, 0);
          result.lag.push(lag);
          const measuredAt = bus?.lagAt ? Date.parse(bus.lagAt) : 0;
          if (
            lag === 0 &&
            settledAt !== undefined &&
            measuredAt >= settledAt &&
            result.lagZeroSeconds === undefined
          )
            result.lagZeroSeconds = since();
        } catch {
          result.lag.push(undefined);
        }
        await sleep(Math.max(0, 500 - (performance.now() - tick)));
      }
    })();
    stopSampler = async () => {
      sampling = false;
      await sampler;
    };

    const env = { ...process.env, TCP_NODELAY: '1' };
    const sends = Promise.all(
      corpus.parts.map((part) =>
        run(
          'storescu',
          ['-aet', 'BENCH', '-aec', 'SLUICE', '127.0.0.1', String(front.dicomPort), '+sd', part],
          { env },
        ),
      ),
    ).then((exits) => {
      result.ackSeconds = since();
      return exits;
    });
    const aborted = () => {
      const gone = members.find((m) => !m.proc.running);
      return gone
        ? `${gone.label} ${describeExit(gone.proc.exit!)}`
        : interrupted()
          ? 'interrupted'
          : undefined;
    };
    const timeoutMs = 180_000 + corpus.count * 500;
    // Indexed: a page that starts at the N-th image answers one (a small answer, so that polling costs the
    // front end little CPU); the full list is checked once after. Timed at the start of the query that saw it.
    const indexed = waitFor(
      'all instances indexed',
      async () => {
        const asked = since();
        return (await imagesPage(front, corpus.count - 1, 1)).length ? asked : undefined;
      },
      { timeoutMs, intervalMs: 200, failed: aborted },
    );
    const exits = await sends;
    const failedSends = exits.filter((e) => e.code !== 0);
    if (failedSends.length) {
      indexed.catch(() => undefined);
      throw new Error(
        failedSends
          .map((e) => `storescu ${describeExit(e)}:\n${e.output.trim().split('\n').slice(-8).join('\n')}`)
          .join('\n'),
      );
    }
    result.e2eSeconds = await indexed;

    // Settled: every event consumed and nothing in flight (workers), every instance acknowledged (single).
    await waitFor(
      'every instance settled',
      async () => {
        if (!split) {
          const p = await pipeline(front);
          return p.inFlight === 0 && p.acknowledged + p.dropped + p.quarantined >= corpus.count
            ? true
            : undefined;
        }
        const views = await Promise.all(workers.map(pipeline));
        const consumed = views.reduce((n, v) => n + (v.bus?.consumed ?? 0), 0);
        return consumed >= corpus.count && views.every((v) => v.inFlight === 0) ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100, failed: aborted },
    );
    result.settledSeconds = since();
    settledAt = Date.now();
    const cpuAfter = members.map((m) => cpuMs(m.proc.pid!));
    const stagesAfter = await Promise.all(members.map(stages));
    members.forEach((m, i) => {
      const f = figures.get(m)!;
      const a = cpuAfter[i];
      const b = cpuBefore[i];
      if (a && b) {
        f.cpu = {
          totalMs: (a.totalMs - b.totalMs) / corpus.count,
          mainMs: (a.mainMs - b.mainMs) / corpus.count,
        };
        if (f.idleMsPerSec !== undefined)
          f.netMs = f.cpu.totalMs - (f.idleMsPerSec * result.settledSeconds!) / corpus.count;
      }
      f.stages = stageDiff(stagesBefore[i], stagesAfter[i]);
    });

    if (split) {
      try {
        await waitFor(
          'lag 0 reported by a worker',
          async () => (result.lagZeroSeconds !== undefined ? true : undefined),
          {
            timeoutMs: 30_000,
            intervalMs: 100,
            failed: aborted,
          },
        );
      } finally {
        await stopSampler();
      }
    }

    const sops = await indexedSops(front);
    // Committed events' incoming objects are removed in the background: a moment to finish.
    let objects = await s3Objects(settings);
    for (let i = 0; i < 20 && objects.incoming > 0; i++) {
      await sleep(250);
      objects = await s3Objects(settings);
    }
    result.checks = {
      indexed: sops.length,
      distinct: new Set(sops).size,
      stored: objects.stored,
      incoming: objects.incoming,
    };
    for (const m of members) figures.get(m)!.status = await pipeline(m);
    result.processes = members.map((m) => figures.get(m)!);

    const problems: string[] = [];
    const c = result.checks;
    if (c.indexed !== corpus.count || c.distinct !== corpus.count)
      problems.push(`indexed ${c.indexed} (${c.distinct} distinct), expected ${corpus.count}`);
    if (c.stored !== corpus.count) problems.push(`stored ${c.stored} objects, expected ${corpus.count}`);
    if (split) {
      const published = figures.get(front)!.status?.bus?.published ?? NaN;
      const consumed = workers.reduce((n, w) => n + (figures.get(w)!.status?.bus?.consumed ?? 0), 0);
      if (published !== corpus.count)
        problems.push(`front end published ${published}, expected ${corpus.count}`);
      if (consumed !== corpus.count) problems.push(`workers consumed ${consumed}, expected ${corpus.count}`);
    }
    if (problems.length) throw new Error(problems.join('; '));
    result.ok = true;
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    await stopSampler();
    // The front end first (nothing more is published), then the workers (they commit what they took).
    for (const m of members) await m.proc.stop(20_000);
    if (!result.ok)
      for (const m of members)
        result.error += `\n--- ${m.label} log tail (${m.logFile}) ---\n${m.proc.output(1500).trim()}`;
    for (const m of members) {
      const counts = await logCounts(m.logFile);
      const f = result.processes.find((p) => p.label === m.label);
      if (f) Object.assign(f, { warnings: counts.warnings, errors: counts.errors });
      else result.processes.push({ label: m.label, warnings: counts.warnings, errors: counts.errors });
      for (const line of counts.lines) {
        const text = logMessage(line, m.label);
        logMessages.set(text, (logMessages.get(text) ?? 0) + 1);
      }
    }
    removeTempDir(runDir);
  }
  return result;
}

// --------------------------------------------------------------------------------------------- report

const fmt = (n: number | undefined, digits = 1) =>
  n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : '–';
const thousands = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

function table(headers: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAlign[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const range = (values: number[], digits = 1) =>
  values.length ? `${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)}` : '–';

/** Per configuration: the front end's (or single process's) and the workers' summed CPU per instance. */
function cpuOf(r: RunResult): {
  front?: number;
  frontMain?: number;
  frontNet?: number;
  frontIdle?: number;
  workers?: number;
  workersMain?: number;
  workersNet?: number;
  workersIdle?: number;
} {
  const front = r.processes.find((p) => p.label === 'frontend' || p.label === 'single');
  const workers = r.processes.filter((p) => p.label.startsWith('worker'));
  const sum = (f: (p: ProcessFigures) => number | undefined) => {
    const values = workers.map(f);
    return values.length && values.every((v) => v !== undefined)
      ? values.reduce((n, v) => n! + v!, 0)
      : undefined;
  };
  const mean = (f: (p: ProcessFigures) => number | undefined) => {
    const total = sum(f);
    return total === undefined ? undefined : total / workers.length;
  };
  return {
    front: front?.cpu?.totalMs,
    frontMain: front?.cpu?.mainMs,
    frontNet: front?.netMs,
    frontIdle: front?.idleMsPerSec,
    workers: sum((p) => p.cpu?.totalMs),
    workersMain: sum((p) => p.cpu?.mainMs),
    workersNet: sum((p) => p.netMs),
    workersIdle: mean((p) => p.idleMsPerSec),
  };
}

const STAGE_ORDER = [
  'receive',
  'queue',
  'parse',
  'publish',
  'bus',
  'tag_filter',
  'reverse_anonymize',
  'storage',
  'storage.put',
  'storage.write',
  'storage.fsync',
  'storage.rename',
  'index',
  'forward',
  'classify_series',
  'pipeline',
  'settle',
];

function stageRows(columns: Array<Stages[]>): string[][] {
  const names = new Set(columns.flatMap((runs) => runs.flatMap((s) => Object.keys(s))));
  const ordered = [
    ...STAGE_ORDER.filter((s) => names.has(s)),
    ...[...names].filter((s) => !STAGE_ORDER.includes(s)).sort(),
  ];
  return ordered.map((stage) => [
    stage,
    ...columns.map((runs) => {
      const means = runs.filter((s) => s[stage]).map((s) => s[stage].totalMs / s[stage].count);
      const counts = runs.filter((s) => s[stage]).map((s) => s[stage].count);
      return means.length ? `${fmt(median(means), 2)} (${fmt(median(counts), 0)})` : '';
    }),
  ]);
}

function report(
  results: RunResult[],
  corpus: Corpus,
  options: Options,
  kafka: KafkaCapacity | undefined,
  clickHouse: number | undefined,
  brokerLog: { warnings: number; errors: number },
): void {
  const mb = (corpus.bytes / 1e6).toFixed(1);
  console.log(
    `\n## Results: ${corpus.count} instances (${mb} MB, ${options.studies} studies), ${options.parallel} associations,` +
      ` median of ${options.rounds} round(s) — S3 (MinIO) + ClickHouse + PostgreSQL, Kafka for the split ones, all on loopback\n`,
  );
  const rows = CONFIGS.map((config) => {
    const runs = results.filter((r) => r.config === config);
    const ok = runs.filter((r) => r.ok);
    const ack = ok.map((r) => corpus.count / r.ackSeconds!);
    const e2e = ok.map((r) => corpus.count / r.e2eSeconds!);
    const cpu = ok.map(cpuOf);
    const pick = (f: (c: ReturnType<typeof cpuOf>) => number | undefined) =>
      median(cpu.map(f).filter((v): v is number => v !== undefined));
    const both = (total: number, main: number) =>
      Number.isFinite(total) ? `${fmt(total, 1)} (${fmt(main, 1)})` : '–';
    return [
      config.name,
      fmt(median(ack)),
      range(ack),
      fmt(median(e2e)),
      range(e2e),
      `${ok.length}/${runs.length}`,
      both(
        pick((c) => c.front),
        pick((c) => c.frontMain),
      ),
      config.workers
        ? both(
            pick((c) => c.workers),
            pick((c) => c.workersMain),
          )
        : '',
      fmt(median(ok.map((r) => r.settledSeconds! - r.ackSeconds!)), 1),
    ];
  });
  console.log(
    table(
      [
        'configuration',
        'acked inst/s',
        'min–max',
        'C-STORE→indexed inst/s',
        'min–max',
        'ok runs',
        'front/single CPU ms/inst (main)',
        'workers CPU ms/inst (main)',
        'settled after acks s',
      ],
      rows,
      [false, true, true, true, true, true, true, true, true],
    ),
  );
  console.log(
    '\nacked: N / time until the last storescu exited; C-STORE→indexed: N / time until images/query on the' +
      '\nfront end answered N images; CPU: user + system, all threads (main thread in brackets), per instance' +
      '\nsent, from before the send until every instance was settled, for the workers summed over workers;' +
      '\n"settled after acks": from the last storescu exit until everything was indexed, stored and committed.' +
      `\nEngines: ${SLUICE_COMMAND}. MinIO, ClickHouse, PostgreSQL, Kafka, the engines and storescu share this` +
      " machine's cores.",
  );

  console.log('\n### CPU per process, ms per instance (median over rounds; main thread in brackets)\n');
  const labels = ['single', 'frontend', 'worker1', 'worker2'];
  const cpuRows: string[][] = [];
  for (const config of CONFIGS)
    for (const label of labels) {
      const procs = results
        .filter((r) => r.ok && r.config === config)
        .map((r) => r.processes.find((p) => p.label === label))
        .filter((p): p is ProcessFigures => p?.cpu !== undefined);
      if (!procs.length) continue;
      cpuRows.push([
        config.name,
        label,
        fmt(median(procs.map((p) => p.cpu!.totalMs)), 2),
        fmt(median(procs.map((p) => p.cpu!.mainMs)), 2),
        range(
          procs.map((p) => p.cpu!.totalMs),
          2,
        ),
        fmt(median(procs.map((p) => p.idleMsPerSec ?? NaN)), 1),
        fmt(median(procs.map((p) => p.netMs ?? NaN)), 2),
        procs.some((p) => p.partitions !== undefined) ? procs.map((p) => p.partitions ?? '?').join('/') : '',
      ]);
    }
  console.log(
    table(
      [
        'configuration',
        'process',
        'CPU ms/inst',
        'main',
        'min–max',
        'idle CPU ms/s',
        'net of idle ms/inst',
        'partitions (rounds)',
      ],
      cpuRows,
      [false, false, true, true, true, true, true, true],
    ),
  );
  console.log(
    `"idle CPU": the process over ${IDLE_MS / 1000} s before the send (Kafka heartbeats and fetches, the state store followed every` +
      '\nsecond, lag measured every 2 s); "CPU ms/inst" includes it for the duration of the run, "net of idle" takes' +
      '\nit out (idle rate × time from the send until settled, divided by the instances).',
  );

  console.log(
    '\n### Stage timings per instance: mean ms (count), median over rounds (GET /api/pipelines/stages, difference over the run)\n',
  );
  for (const config of CONFIGS) {
    const ok = results.filter((r) => r.ok && r.config === config);
    if (!ok.length) continue;
    const frontLabel = config.workers ? 'frontend' : 'single';
    const front = ok.map((r) => r.processes.find((p) => p.label === frontLabel)?.stages ?? {});
    const columns = [front];
    const headers = ['stage', config.workers ? 'front end' : 'single process'];
    if (config.workers) {
      columns.push(
        ok.map((r) =>
          r.processes
            .filter((p) => p.label.startsWith('worker'))
            .reduce<Stages>((all, p) => addStages(all, p.stages ?? {}), {}),
        ),
      );
      headers.push(config.workers > 1 ? 'workers (together)' : 'worker');
    }
    console.log(`${config.name}:`);
    console.log(
      table(
        headers,
        stageRows(columns),
        headers.map((_, i) => i > 0),
      ),
    );
    console.log('');
  }
  console.log(
    'Stages overlap across instances in flight; "pipeline" is from the first operator to the last sink, with the' +
      '\nqueues between them; on a front end the sinks are the hand-off to the bus (incoming object + publish).',
  );

  console.log(
    '\n### Consumer lag reported by worker1 (events, summed over partitions; the process measures every 2 s)\n',
  );
  for (const r of results.filter((r) => r.config.workers > 0)) {
    const marks = [
      r.ackSeconds !== undefined ? `acked ${fmt(r.ackSeconds)} s` : '',
      r.e2eSeconds !== undefined ? `indexed ${fmt(r.e2eSeconds)} s` : '',
      r.settledSeconds !== undefined ? `settled ${fmt(r.settledSeconds)} s` : '',
      r.lagZeroSeconds !== undefined ? `lag 0 reported ${fmt(r.lagZeroSeconds)} s` : 'lag 0 not reported',
    ].filter(Boolean);
    console.log(
      `r${r.round} ${r.config.name.padEnd(9)} lag (events) by 0.5 s: ${r.lag.map((l) => (l === undefined ? '?' : String(l))).join(' ')}` +
        `  [${marks.join(', ')}; group lag before the round ${r.lagBefore ?? '?'}]`,
    );
  }
  console.log(
    'Times from the start of the send. Offsets are committed per fetched batch once every event of it is settled,' +
      '\nso the lag falls in steps, a fetched batch at a time.',
  );

  console.log('\n### Checks per run\n');
  console.log(
    table(
      [
        'round',
        'configuration',
        'indexed',
        'distinct',
        'stored',
        'incoming left',
        'published',
        'consumed',
        'quarantined',
        'WARN',
        'ERROR',
      ],
      results.map((r) => {
        const front = r.processes.find((p) => p.label === 'frontend');
        const workers = r.processes.filter((p) => p.label.startsWith('worker'));
        const quarantined = r.processes.reduce((n, p) => n + (p.status?.quarantined ?? 0), 0);
        return [
          String(r.round),
          r.config.name,
          String(r.checks?.indexed ?? '–'),
          String(r.checks?.distinct ?? '–'),
          String(r.checks?.stored ?? '–'),
          String(r.checks?.incoming ?? '–'),
          front ? String(front.status?.bus?.published ?? '–') : '',
          workers.length ? workers.map((w) => w.status?.bus?.consumed ?? '–').join('+') : '',
          String(quarantined),
          String(r.processes.reduce((n, p) => n + p.warnings, 0)),
          String(r.processes.reduce((n, p) => n + p.errors, 0)),
        ];
      }),
      [true, false, true, true, true, true, true, true, true, true, true],
    ),
  );
  const failed = results.filter((r) => !r.ok);
  for (const r of failed) console.log(`\nround ${r.round} ${r.config.name} FAILED: ${r.error}`);
  console.log(`\nEngine log lines at WARN or above, all runs (${logMessages.size} distinct):`);
  if (!logMessages.size) console.log('  none');
  for (const [text, n] of [...logMessages].sort((a, b) => b[1] - a[1]).slice(0, 20))
    console.log(`  ${String(n).padStart(5)}× ${text}`);
  console.log(`Kafka broker log: ${brokerLog.warnings} WARN, ${brokerLog.errors} ERROR lines.`);

  console.log('\n## Capacity inputs (same run, after the rounds)\n');
  if (kafka)
    console.log(
      `Kafka, 1 partition, ${thousands(kafka.events)} events of ${kafka.bytes} bytes: produce ${thousands(kafka.producePerSec)} msgs/s` +
        ` (idempotent, acks=-1, batches of 100, one request in flight); consume ${thousands(kafka.consumePerSec)} msgs/s` +
        ' (one member, JSON parse, commit after each batch).',
    );
  else console.log('Kafka: skipped (--kafka-events 0).');
  if (clickHouse !== undefined)
    console.log(
      `ClickHouse 18.16 inserts through the index adapter (ids from PostgreSQL), ${thousands(options.chCount)} instances,` +
        ` ${options.chInFlight} upserts in flight: ${thousands(clickHouse)} inst/s.`,
    );
  else console.log('ClickHouse: skipped (--ch-count 0).');

  capacityModel(results, options, kafka, clickHouse);
}

/** Bounds of a site, from the figures above: which stage limits first. */
function capacityModel(
  results: RunResult[],
  options: Options,
  kafka: KafkaCapacity | undefined,
  clickHouse: number | undefined,
): void {
  const splitOk = results.filter((r) => r.ok && r.config.workers > 0);
  const split = splitOk.map(cpuOf);
  const med = (f: (c: ReturnType<typeof cpuOf>) => number | undefined) =>
    median(split.map(f).filter((v): v is number => v !== undefined));
  // As measured: 1000 / CPU ms per instance (idle CPU included). Net of idle: a saturated process still spends
  // its idle rate on heartbeats and polling, so (1000 - idle ms/s) / CPU ms per instance net of idle.
  const front = { cpu: med((c) => c.front), net: med((c) => c.frontNet), idle: med((c) => c.frontIdle) };
  const worker = {
    cpu: med((c) => c.workers),
    net: med((c) => c.workersNet),
    idle: med((c) => c.workersIdle),
  };
  const perCore = (p: { cpu: number; net: number; idle: number }) => ({
    measured: 1000 / p.cpu,
    net: (1000 - p.idle) / p.net,
  });
  const frontRate = perCore(front);
  const workerRate = perCore(worker);
  const frontCores = SITE.frontNodes * SITE.coresPerNode;
  const workerCores = SITE.workerNodes * SITE.coresPerNode;
  const P = options.partitions;
  const perPartition = kafka ? Math.min(kafka.producePerSec, kafka.consumePerSec) : NaN;
  // A site sizes the topic for its workers: a partition feeds one worker process at a time.
  const siteP = Math.max(P, workerCores);
  const busyWorkers = Math.min(workerCores, siteP);
  const workerStages = splitOk.map((r) =>
    r.processes
      .filter((p) => p.label.startsWith('worker'))
      .reduce<Stages>((sum, p) => addStages(sum, p.stages ?? {}), {}),
  );
  const meanMs = (all: Stages, stage: string) => (all[stage] ? all[stage].totalMs / all[stage].count : NaN);
  console.log('\n## Capacity model\n');
  console.log(
    `Inputs (median over the ${split.length} successful split run(s), 1 and 2 workers; per instance, all threads):` +
      `\n  front end: ${fmt(front.cpu, 2)} ms CPU → 1000 / ${fmt(front.cpu, 2)} = ${fmt(frontRate.measured, 1)} inst/s per core;` +
      ` net of idle ${fmt(front.net, 2)} ms, idle ${fmt(front.idle, 1)} ms/s → (1000 - ${fmt(front.idle, 1)}) / ${fmt(front.net, 2)} = ${fmt(frontRate.net, 1)} inst/s per core` +
      `\n  worker:    ${fmt(worker.cpu, 2)} ms CPU → 1000 / ${fmt(worker.cpu, 2)} = ${fmt(workerRate.measured, 1)} inst/s per core;` +
      ` net of idle ${fmt(worker.net, 2)} ms, idle ${fmt(worker.idle, 1)} ms/s → (1000 - ${fmt(worker.idle, 1)}) / ${fmt(worker.net, 2)} = ${fmt(workerRate.net, 1)} inst/s per core`,
  );
  console.log(
    `Site: ${SITE.frontNodes} front-end nodes × ${SITE.coresPerNode} cores, ${SITE.workerNodes} worker nodes × ${SITE.coresPerNode} cores,` +
      ` SLUICE_BUS_PARTITIONS=${siteP} (one per worker process), one ClickHouse server as measured here.\n`,
  );
  const bounds: Array<[string, string, number, number]> = [
    [
      'front ends',
      `${frontCores} cores × ${fmt(frontRate.measured, 1)} (${fmt(frontRate.net, 1)}) inst/s`,
      frontCores * frontRate.measured,
      frontCores * frontRate.net,
    ],
    [
      'workers, by CPU',
      `${workerCores} cores × ${fmt(workerRate.measured, 1)} (${fmt(workerRate.net, 1)}) inst/s`,
      workerCores * workerRate.measured,
      workerCores * workerRate.net,
    ],
    [
      'workers, by partitions',
      `min(${workerCores} worker processes at one per core, ${siteP} partitions) = ${busyWorkers} × ${fmt(workerRate.measured, 1)} (${fmt(workerRate.net, 1)}) inst/s`,
      busyWorkers * workerRate.measured,
      busyWorkers * workerRate.net,
    ],
    [
      'Kafka partitions',
      kafka
        ? `${siteP} partitions × ${thousands(perPartition)} msgs/s (min of produce ${thousands(kafka.producePerSec)}, consume ${thousands(kafka.consumePerSec)})`
        : 'not measured',
      siteP * perPartition,
      siteP * perPartition,
    ],
    [
      'ClickHouse inserts',
      clickHouse !== undefined
        ? `${thousands(clickHouse)} inst/s measured (one server, this machine)`
        : 'not measured',
      clickHouse ?? NaN,
      clickHouse ?? NaN,
    ],
  ];
  console.log(
    table(
      ['stage', 'arithmetic (net of idle in brackets)', 'bound inst/s', 'net of idle'],
      bounds.map(([stage, how, bound, net]) => [stage, how, thousands(bound), thousands(net)]),
      [false, false, true, true],
    ),
  );
  const measured = bounds.filter(([, , b]) => Number.isFinite(b));
  if (!measured.length) {
    console.log('\nNo bound could be computed (no successful split run).');
    return;
  }
  const binding = (i: 2 | 3) => measured.reduce((a, b) => (b[i] < a[i] ? b : a));
  const [stage, , bound] = binding(2);
  const [netStage, , , netBound] = binding(3);
  console.log(
    `\nBinding: ${stage} at ${thousands(bound)} inst/s (${thousands(bound * 3600)} inst/h);` +
      ` net of idle: ${netStage} at ${thousands(netBound)} inst/s.`,
  );
  console.log(
    `One study: its events share a key, so one partition and one worker process, which runs them side by side` +
      ` (up to the pipeline's max_in_flight): a study moves at most at one worker core's rate,` +
      ` ${fmt(workerRate.measured, 1)} inst/s here; ${thousands(bound)} inst/s needs at least` +
      ` ${thousands(bound / workerRate.measured)} studies arriving at once.`,
  );
  console.log(
    'Caveats: per-core rates come from a 2-core machine where the stores, the broker and the sender share the' +
      '\ncores with the engines; a Node process runs its pipeline on one main thread, so "one process per core"' +
      '\nis assumed; the ClickHouse figure is one server on the same 2 cores, upserts without DICOM.',
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
  const root = registerTempDir(await mkdtemp(join(tmpdir(), 'sluice-scale-bench-')));
  console.log(
    `configurations: ${CONFIGS.map((c) => c.name).join(', ')}; ${options.rounds} round(s); ${options.partitions} partitions; temp dir ${root}`,
  );
  sluiceStartArgs(); // builds dist/server when a source is newer
  const corpus = await generate(root, options.count, options.parallel, { studies: options.studies });

  const [servicesResult, brokerResult] = await Promise.allSettled([
    startServices(SCALE, join(root, 'minio')),
    startKafka(),
  ]);
  const broker = brokerResult.status === 'fulfilled' ? brokerResult.value : undefined;
  const unregisterBroker = broker ? onInterrupt(() => broker.stop()) : undefined;
  const services = servicesResult.status === 'fulfilled' ? servicesResult.value : undefined;
  try {
    if (!services) throw (servicesResult as PromiseRejectedResult).reason;
    if (!broker) throw (brokerResult as PromiseRejectedResult).reason;
    console.log(`${services.describe()}; Kafka ${broker.brokers}`);
    const kafka = new Kafka({
      clientId: 'sluice-bench-scale',
      brokers: [broker.brokers],
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await rounds({ root, corpus, services, broker, admin, options });
    } finally {
      await admin.disconnect();
    }
  } finally {
    await services?.stop();
    await broker?.stop();
    unregisterBroker?.();
  }
}

async function rounds(ctx: RunContext): Promise<number> {
  const { options, corpus } = ctx;
  const results: RunResult[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const shift = (round - 1) % CONFIGS.length;
    for (const config of [...CONFIGS.slice(shift), ...CONFIGS.slice(0, shift)]) {
      if (interrupted()) throw new Error('interrupted');
      const r = await runOnce(ctx, config, round);
      results.push(r);
      const head = `round ${round}/${options.rounds}  ${config.name.padEnd(9)}`;
      if (!r.ok) {
        console.log(`${head} FAILED\n${r.error?.replace(/^/gm, '    ')}`);
        continue;
      }
      const cpu = cpuOf(r);
      console.log(
        `${head} acked ${fmt(corpus.count / r.ackSeconds!).padStart(6)} inst/s (${fmt(r.ackSeconds!, 2)} s)` +
          `  C-STORE→indexed ${fmt(corpus.count / r.e2eSeconds!).padStart(6)} inst/s (${fmt(r.e2eSeconds!, 2)} s)` +
          `  CPU/inst ${config.workers ? 'front end' : 'process'} ${fmt(cpu.front, 1)} ms` +
          (config.workers ? `, workers ${fmt(cpu.workers, 1)} ms` : ''),
      );
      if (config.workers)
        console.log(
          `${' '.repeat(head.length)} lag (events) by 0.5 s: ${r.lag.map((l) => l ?? '?').join(' ')}`,
        );
    }
  }

  let kafka: KafkaCapacity | undefined;
  if (options.kafkaEvents > 0) {
    console.log(`\nKafka capacity: ${options.kafkaEvents} events, one partition`);
    kafka = await kafkaCapacity(ctx.broker, options.kafkaEvents);
  }
  let clickHouse: number | undefined;
  if (options.chCount > 0) {
    console.log(`ClickHouse capacity: ${options.chCount} instances, ${options.chInFlight} in flight`);
    const started = performance.now();
    clickHouse = await clickHouseCapacity(ctx.services, options.chCount, options.chInFlight);
    console.log(`  done in ${formatSeconds((performance.now() - started) / 1000)}`);
  }
  const brokerLog = await logCounts(ctx.broker.logFile);
  report(results, corpus, options, kafka, clickHouse, {
    warnings: brokerLog.warnings,
    errors: brokerLog.errors,
  });
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
