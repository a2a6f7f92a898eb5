/**
 * The C-STORE receivers the benchmark compares. Each run starts a receiver fresh with an empty data
 * directory, on loopback, with TCP_NODELAY=1 in its environment (see /work/shared/NOTES.md).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { parseS3Url } from '../../src/config.js';
import { Proc } from './procs.js';
import { SLUICE_COMMAND, sluiceStartArgs } from './engine.js';
import { startOrthanc } from './orthanc.js';
import {
  basicAuth,
  countFiles,
  dicomEcho,
  freePorts,
  httpJson,
  httpStatus,
  RssSampler,
  waitFor,
} from './util.js';

export interface ReceiverContext {
  /** Empty directory for this run; the receiver keeps its data under it. */
  runDir: string;
  /** stdout and stderr of the receiver go here. */
  logFile: string;
  /** The run sends over several associations at once. */
  parallel: boolean;
  repoRoot: string;
}

export interface RunningReceiver {
  ae: string;
  port: number;
  proc: Proc;
  /** What the receiver got, counted in one or more ways; every count must reach the number sent. */
  counts(): Promise<Record<string, number>>;
  /** Peak resident memory in MB (only for receivers whose memory we track); call before stop(). */
  peakRssMb?(): number;
  stop(): Promise<void>;
  /** Extra information shown with the results (e.g. the command line). */
  note: string;
  /** The HTTP API, for receivers that have one we drive (Sluice). */
  http?: { base: string; auth: string };
  /** Where the time went, by stage (Sluice's /api/pipelines/stages). */
  stages?(): Promise<Record<string, StageFigures>>;
}

/** One stage of Sluice's per-instance breakdown, as /api/pipelines/stages answers it. */
export interface StageFigures {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  totalMs: number;
}

export interface ReceiverDef {
  id: string;
  name: string;
  /** How long the received count may lag behind the senders' exit (asynchronous indexing). */
  settleTimeoutMs: number;
  start(ctx: ReceiverContext): Promise<RunningReceiver>;
}

const baseEnv = (): NodeJS.ProcessEnv => ({ ...process.env, TCP_NODELAY: '1' });

/** Waits for `ready`, failing early if the process exits; stops the process if it never gets ready. */
async function startAndWait(
  proc: Proc,
  what: string,
  ready: () => Promise<true | undefined>,
  timeoutMs: number,
) {
  try {
    await waitFor(what, ready, {
      timeoutMs,
      intervalMs: 150,
      failed: () => {
        const exit = proc.exit;
        if (!exit) return undefined;
        return `process exited (${exit.error?.message ?? exit.signal ?? `code ${exit.code}`}) before it was ready`;
      },
    });
  } catch (err) {
    await proc.stop(2000);
    const log = proc.output(3000).trim();
    throw new Error(`${(err as Error).message}${log ? `\n--- log tail ---\n${log}` : ''}`);
  }
}

const echoReady = (ae: string, port: number) => async () => ((await dicomEcho(ae, port)) ? true : undefined);

/** DCMTK storescp writing files to disk; --fork (one child process per association) for parallel runs. */
export function storescp(variant: 'defaults' | 'tuned'): ReceiverDef {
  const tuned = variant === 'tuned';
  return {
    id: tuned ? 'storescp-tuned' : 'storescp',
    name: tuned ? 'storescp -pdu 131072 +B' : 'storescp (defaults)',
    settleTimeoutMs: 5000,
    async start(ctx) {
      const [port] = await freePorts(1);
      const out = join(ctx.runDir, 'out');
      await mkdir(out, { recursive: true });
      const args = [
        '-aet',
        'STORESCP',
        '-od',
        out,
        ...(tuned ? ['-pdu', '131072', '+B'] : []),
        ...(ctx.parallel ? ['--fork'] : []),
        String(port),
      ];
      const proc = new Proc('storescp', args, { env: baseEnv(), logFile: ctx.logFile, group: true });
      await startAndWait(proc, 'storescp', echoReady('STORESCP', port), 10_000);
      return {
        ae: 'STORESCP',
        port,
        proc,
        note: `storescp ${args.slice(4).join(' ')}`,
        counts: async () => ({ files: await countFiles(out) }),
        stop: async () => void (await proc.stop(5000)),
      };
    },
  };
}

/** Orthanc (Debian package) with its default SQLite index and file storage, no plugins. */
export const orthanc: ReceiverDef = {
  id: 'orthanc',
  name: 'Orthanc (SQLite)',
  settleTimeoutMs: 10_000,
  async start(ctx) {
    const peer = await startOrthanc({ dir: ctx.runDir, logFile: ctx.logFile });
    return {
      ae: peer.aeTitle,
      port: peer.dicomPort,
      proc: peer.proc,
      note: 'Orthanc <config.json> (SQLite index, no plugins)',
      counts: async () => ({ CountInstances: await peer.instanceCount() }),
      stop: peer.stop,
    };
  },
};

/** Reads every page of POST /api/metadata/images/query (the API caps `count` at 10,000). */
async function sluiceIndexedCount(base: string, auth: string): Promise<number> {
  const page = 10_000;
  let total = 0;
  for (let startIndex = 0; ; startIndex += page) {
    const body = await httpJson(`${base}/api/metadata/images/query`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ startIndex, count: page, queryProperties: [] }),
    });
    if (!Array.isArray(body))
      throw new Error(`images/query did not answer an array: ${JSON.stringify(body)}`);
    total += body.length;
    if (body.length < page) return total;
  }
}

/**
 * Sluice itself, as `npm start` runs it (the compiled engine, one process, so its memory is what we sample;
 * npm would put a second process in between).
 */
export const sluice = sluiceReceiver('sluice', 'Sluice');

/** Sluice running `bench/pipelines/classify-filter.yaml`: 20 series types and a blacklist filter. */
export const sluiceClassify = sluiceReceiver(
  'sluice-classify',
  'Sluice + classify/filter',
  'bench/pipelines/classify-filter.yaml',
);

/** The objects under the bucket and prefix of `SLUICE_BLOBS`, listed with the run's AWS variables. */
async function countObjects(env: NodeJS.ProcessEnv): Promise<number> {
  const { bucket, prefix } = parseS3Url(env.SLUICE_BLOBS!);
  const client = new S3Client({
    endpoint: env.AWS_ENDPOINT_URL_S3,
    region: env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
  let n = 0;
  try {
    for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix }))
      n += (page.Contents ?? []).filter((o) => o.Key?.endsWith('.dcm')).length;
  } finally {
    client.destroy();
  }
  return n;
}

/**
 * Sluice on `pipelines` (default: the default pipeline), with extra settings (SLUICE_* and others, such as
 * the AWS variables), fixed or made per run.
 */
export function sluiceReceiver(
  id: string,
  name: string,
  pipelines?: string,
  settings: Record<string, string> | ((ctx: ReceiverContext) => Record<string, string>) = {},
): ReceiverDef {
  return {
    id,
    name,
    settleTimeoutMs: 60_000,
    async start(ctx) {
      const [dicomPort, httpPort] = await freePorts(2);
      const dataDir = join(ctx.runDir, 'data');
      await mkdir(dataDir, { recursive: true });
      const env = baseEnv();
      for (const key of Object.keys(env))
        if (key.startsWith('SLUICE_') && key !== 'SLUICE_PIPELINES') delete env[key];
      Object.assign(env, {
        SLUICE_DATA_DIR: dataDir,
        SLUICE_HTTP_HOST: '127.0.0.1',
        SLUICE_HTTP_PORT: String(httpPort),
        SLUICE_DICOM_HOST: '127.0.0.1',
        SLUICE_DICOM_PORT: String(dicomPort),
        SLUICE_AE_TITLE: 'SLUICE',
        // As `npm start` runs it (the thread pool is sized before the engine's first file operation).
        UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16',
        SLUICE_ADMIN_USER: 'admin',
        SLUICE_ADMIN_PASSWORD: 'admin',
        ...(pipelines ? { SLUICE_PIPELINES: pipelines } : {}),
        ...(typeof settings === 'function' ? settings(ctx) : settings),
      });
      const proc = new Proc(process.execPath, sluiceStartArgs(), {
        env,
        cwd: ctx.repoRoot,
        logFile: ctx.logFile,
        group: true,
      });
      const rss = proc.pid !== undefined ? new RssSampler(proc.pid, 100) : undefined;
      const base = `http://127.0.0.1:${httpPort}`;
      const auth = basicAuth('admin', 'admin');
      try {
        await startAndWait(
          proc,
          'Sluice',
          async () =>
            (await httpStatus(`${base}/api/system/health`)) === 200 && (await dicomEcho('SLUICE', dicomPort))
              ? true
              : undefined,
          60_000,
        );
      } catch (err) {
        rss?.finish();
        throw err;
      }
      let peak: number | undefined;
      return {
        ae: 'SLUICE',
        port: dicomPort,
        proc,
        note: SLUICE_COMMAND,
        http: { base, auth },
        counts: async () => ({
          ...(env.SLUICE_BLOBS
            ? { 'S3 objects': await countObjects(env) }
            : { 'storage/*.dcm': await countFiles(join(dataDir, 'storage'), '.dcm') }),
          'images/query': await sluiceIndexedCount(base, auth),
        }),
        peakRssMb: () => (peak ??= rss?.finish() ?? NaN),
        stages: async () =>
          (await httpJson(`${base}/api/pipelines/stages`, { headers: { Authorization: auth } })) as Record<
            string,
            StageFigures
          >,
        stop: async () => {
          peak ??= rss?.finish();
          await proc.stop(15_000);
        },
      };
    },
  };
}

export const RECEIVERS: Record<string, ReceiverDef> = {
  sluice,
  'sluice-classify': sluiceClassify,
  storescp: storescp('defaults'),
  'storescp-tuned': storescp('tuned'),
  orthanc,
};
