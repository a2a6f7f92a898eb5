/**
 * Engine configuration: embedded defaults, overridden by an optional YAML file (`--config sluice.yaml` or
 * `SLUICE_CONFIG`; the same keys as the variables, lower case without `SLUICE_`: `http_port: 5000`),
 * overridden by SLUICE_* environment variables. A variable or key that does not exist is refused with the
 * nearest valid name, file errors with `file:line:col` as in pipeline files. Default paths come from the
 * package (src/ops/package.ts), relative paths in a file from the file's folder.
 */
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Node } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { didYouMean } from './pipeline/nearest.js';
import { PACKAGE_ROOT } from './ops/package.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './ops/logger.js';
import { parseClickHouseUrl } from './storage/clickhouse-index/location.js';
import { parsePostgresUrl } from './storage/postgres-state/location.js';
import { maskedUrl } from './storage/masked-url.js';

/** How box workers pace themselves (SLUICE_BOX_*). */
export interface BoxTimings {
  /** How often an idle PUSH box looks for new outgoing images and polls the remote's queue. */
  pollIntervalMs: number;
  /** Images per push or poll batch (Slicebox: 200). */
  batchSize: number;
  /** Requests in flight per box and direction (Slicebox: 8). */
  parallelism: number;
  /** First retry delay after a transient failure; doubles per attempt up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** A request without an answer (or progress) for this long fails. */
  requestTimeoutMs: number;
  /** A box is online when its last successful poll is this recent. */
  onlineWindowMs: number;
  /** PROCESSING transactions not updated for this long go back to WAITING (Slicebox: 15 s). */
  staleMs: number;
  /** A received image may inflate to this many bytes at most. */
  maxImageBytes: number;
}

export const DEFAULT_BOX_TIMINGS: BoxTimings = {
  pollIntervalMs: 5_000,
  batchSize: 200,
  parallelism: 8,
  retryBaseMs: 1_000,
  retryMaxMs: 5 * 60_000,
  requestTimeoutMs: 120_000,
  onlineWindowMs: 30_000,
  staleMs: 15_000,
  maxImageBytes: 4 * 1024 ** 3,
};

export interface EngineConfig {
  dataDir: string;
  httpHost: string;
  httpPort: number;
  dicomHost: string;
  dicomPort: number;
  aeTitle: string;
  adminUser: string;
  adminPassword: string;
  /** Sliding expiry of login sessions. */
  sessionTimeoutSecs: number;
  /** How long an export set (`POST /api/images/export`) can be downloaded. */
  exportSetTtlSecs: number;
  pipelines: string[];
  /** The forwarding worker; missing fields take DEFAULT_FORWARDING's values. */
  forwarding?: Partial<ForwardingConfig>;
  /** Folder that watched directories created through the API must be inside; default `<dataDir>/watched`. */
  watchRoot?: string;
  /**
   * Where other boxes reach this engine (scheme, host, port, optional path prefix; no `/api`); default
   * `http://<http host>:<http port>`. Box connections hand out `<public URL>/api/transactions/<token>`.
   */
  publicUrl?: string;
  /** Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR blocks); none by default. */
  trustedProxies?: string[];
  /** Box worker timings and limits (DEFAULT_BOX_TIMINGS). */
  boxes?: Partial<BoxTimings>;
  /** C-FIND and QIDO-RS match person names case-sensitively (SLUICE_QR_CASE_SENSITIVE_NAMES); default false. */
  caseSensitiveNames?: boolean;
  /** The operations log (src/ops/logger.ts): level and pretty or JSON lines; info and pretty by default. */
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  /** `/metrics` answers callers on loopback without credentials (for a local scraper). */
  metricsOpenOnLoopback?: boolean;
  /** Readiness fails when the data directory's file system has less free space than this. */
  minFreeBytes?: number;
  /** Reader threads of the embedded SQLite index (metadata listings and queries); 0: the event loop's. */
  indexReaders?: number;
  /**
   * Where stored DICOM files live: the data directory's `storage/` folder when unset, else an S3 bucket and
   * key prefix (`SLUICE_BLOBS=s3://bucket/prefix`; endpoint and credentials from the standard AWS variables).
   */
  blobs?: S3Location;
  /**
   * The metadata index: SQLite in the data directory when unset, else ClickHouse over its HTTP interface
   * (`SLUICE_INDEX=http://user:password@host:8123/database`).
   */
  index?: string;
  /**
   * The state store: SQLite in the data directory when unset, else PostgreSQL
   * (`SLUICE_STATE=postgres://user:password@host:5432/database`; the database is created when missing).
   */
  state?: string;
  /**
   * What this process runs (SLUICE_ROLE, `--role`): `all` (the default: every part of every pipeline, in one
   * process), or any of `frontend` (the sources: receive, store in the blob store, publish to the bus),
   * `worker` (the operators and sinks, fed by the bus; the forwarding and box senders) and `api` (the HTTP
   * API alone), comma-separated. Every role but `all` needs a bus (SLUICE_BUS).
   */
  roles?: readonly Role[];
  /** The event bus between front ends and workers: Kafka brokers (`SLUICE_BUS=kafka://host:port[,host:port…]`). */
  bus?: string;
  /** How long a front end waits for a worker's result of an upload before answering without it. */
  busReplyTimeoutMs?: number;
  /** Partitions of each pipeline's topic, when Sluice creates it (the most workers that share a pipeline). */
  busPartitions?: number;
  /** The configuration file read, if any. */
  configFile?: string;
}

export const ROLES = ['all', 'frontend', 'worker', 'api'] as const;
export type Role = (typeof ROLES)[number];

/** A bucket and the prefix of every key Sluice writes in it (empty, or ending with `/`). */
export interface S3Location {
  bucket: string;
  prefix: string;
}

/**
 * `s3://bucket/prefix` → `{ bucket, prefix: 'prefix/' }`. Bucket names follow S3's rules (3–63 lower-case
 * letters, digits, dots and hyphens); the prefix is optional, without `..`, `//` or a leading slash.
 */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error('SLUICE_BLOBS must be s3://bucket or s3://bucket/prefix');
  const [, bucket, rawPrefix = ''] = m;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new Error(`SLUICE_BLOBS: "${bucket}" is not a valid bucket name (3–63 of a-z, 0-9, ".", "-")`);
  const prefix = rawPrefix.replace(/\/+$/, '');
  if (
    prefix &&
    (prefix.split('/').some((p) => p === '' || p === '.' || p === '..') || !/^[\x21-\x7e]+$/.test(prefix))
  )
    throw new Error(`SLUICE_BLOBS: "${rawPrefix}" is not a usable key prefix`);
  return { bucket, prefix: prefix ? `${prefix}/` : '' };
}

/** How the forwarding worker batches, sends and retries (SLUICE_FORWARD_*). */
export interface ForwardingConfig {
  /** A route's batch is sent once no instance joined it for this long (Slicebox: 30 s). */
  quietMs: number;
  /** …or as soon as it holds this many instances. */
  batchMax: number;
  /** Batches sent at once. */
  concurrency: number;
  /** Failed attempts before a batch moves to the dead letters. */
  maxAttempts: number;
  /** Wait before the first retry; doubles with each failure, up to retryMaxMs. */
  retryBaseMs: number;
  /**
   * A batch being sent is held for this long, renewed while its sender lives; a batch whose sender died
   * (kill -9 of one of several processes) is taken over once it runs out.
   */
  leaseMs?: number;
  /**
   * Several processes share the outbox (SLUICE_ROLE): a start leaves batches another process is sending to
   * their leases instead of taking every SENDING batch back.
   */
  shared?: boolean;
  retryMaxMs: number;
}

export const DEFAULT_FORWARDING: ForwardingConfig = {
  quietMs: 30_000,
  batchMax: 100,
  concurrency: 2,
  maxAttempts: 10,
  retryBaseMs: 5_000,
  retryMaxMs: 600_000,
};

const port = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a port number` })
    .int(`${name} must be an integer`)
    .min(0, `${name} must be 0..65535`)
    .max(65535, `${name} must be 0..65535`);

const count = (name: string, min: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be an integer`)
    .min(min, `${name} must be at least ${min}`);
const positiveInt = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be an integer`)
    .min(1, `${name} must be at least 1`);

/** A service's URL, kept as given once `parse` accepts it (its message is the variable's error). */
const serviceUrl = (parse: (url: string) => unknown) =>
  z
    .string()
    .superRefine((url, ctx) => {
      try {
        parse(url);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .optional();

const envSchema = z.object({
  SLUICE_DATA_DIR: z.string().min(1).default('./data'),
  SLUICE_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  SLUICE_HTTP_PORT: port('SLUICE_HTTP_PORT').default(5000),
  SLUICE_DICOM_HOST: z.string().min(1).default('127.0.0.1'),
  SLUICE_DICOM_PORT: port('SLUICE_DICOM_PORT').default(11112),
  SLUICE_AE_TITLE: z
    .string()
    .trim()
    .min(1, 'SLUICE_AE_TITLE must not be empty')
    .max(16, 'SLUICE_AE_TITLE must be at most 16 characters')
    .regex(/^[\x20-\x5b\x5d-\x7e]+$/, 'SLUICE_AE_TITLE must be printable ASCII without backslash')
    .default('SLUICE'),
  SLUICE_ADMIN_USER: z.string().min(1).default('admin'),
  SLUICE_ADMIN_PASSWORD: z.string().min(1).default('admin'),
  SLUICE_SESSION_TIMEOUT_SECS: z.coerce
    .number({ error: 'SLUICE_SESSION_TIMEOUT_SECS must be a number of seconds' })
    .int('SLUICE_SESSION_TIMEOUT_SECS must be an integer')
    .min(60, 'SLUICE_SESSION_TIMEOUT_SECS must be at least 60')
    // Browsers cap a cookie's Max-Age at 400 days.
    .max(400 * 24 * 3600, 'SLUICE_SESSION_TIMEOUT_SECS must be at most 400 days')
    .default(3600),
  SLUICE_PIPELINES: z.string().min(1).optional(),
  SLUICE_FORWARD_QUIET_MS: count('SLUICE_FORWARD_QUIET_MS', 0).default(DEFAULT_FORWARDING.quietMs),
  SLUICE_FORWARD_BATCH_MAX: count('SLUICE_FORWARD_BATCH_MAX', 1).default(DEFAULT_FORWARDING.batchMax),
  SLUICE_FORWARD_CONCURRENCY: count('SLUICE_FORWARD_CONCURRENCY', 1).default(DEFAULT_FORWARDING.concurrency),
  SLUICE_FORWARD_MAX_ATTEMPTS: count('SLUICE_FORWARD_MAX_ATTEMPTS', 1).default(
    DEFAULT_FORWARDING.maxAttempts,
  ),
  SLUICE_FORWARD_RETRY_BASE_MS: count('SLUICE_FORWARD_RETRY_BASE_MS', 1).default(
    DEFAULT_FORWARDING.retryBaseMs,
  ),
  SLUICE_FORWARD_RETRY_MAX_MS: count('SLUICE_FORWARD_RETRY_MAX_MS', 1).default(DEFAULT_FORWARDING.retryMaxMs),
  SLUICE_WATCH_ROOT: z.string().min(1).optional(),
  SLUICE_TRUSTED_PROXIES: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .optional(),
  SLUICE_PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: 'SLUICE_PUBLIC_URL must be an http or https URL' })
    .optional(),
  SLUICE_BOX_POLL_INTERVAL_MS: positiveInt('SLUICE_BOX_POLL_INTERVAL_MS').optional(),
  SLUICE_BOX_BATCH_SIZE: positiveInt('SLUICE_BOX_BATCH_SIZE').optional(),
  SLUICE_BOX_PARALLELISM: positiveInt('SLUICE_BOX_PARALLELISM').optional(),
  SLUICE_BOX_RETRY_BASE_MS: positiveInt('SLUICE_BOX_RETRY_BASE_MS').optional(),
  SLUICE_BOX_RETRY_MAX_MS: positiveInt('SLUICE_BOX_RETRY_MAX_MS').optional(),
  SLUICE_QR_CASE_SENSITIVE_NAMES: z
    .enum(['true', 'false'], { error: 'SLUICE_QR_CASE_SENSITIVE_NAMES must be true or false' })
    .transform((v) => v === 'true')
    .optional(),
  SLUICE_EXPORT_SET_TTL_SECS: z.coerce
    .number({ error: 'SLUICE_EXPORT_SET_TTL_SECS must be a number of seconds' })
    .int('SLUICE_EXPORT_SET_TTL_SECS must be an integer')
    .min(60, 'SLUICE_EXPORT_SET_TTL_SECS must be at least 60')
    .max(30 * 24 * 3600, 'SLUICE_EXPORT_SET_TTL_SECS must be at most 30 days')
    .default(6 * 3600),
  SLUICE_LOG_LEVEL: z
    .enum(LOG_LEVELS, { error: `SLUICE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })
    .default('info'),
  SLUICE_LOG_FORMAT: z
    .enum(LOG_FORMATS, { error: `SLUICE_LOG_FORMAT must be one of ${LOG_FORMATS.join(', ')}` })
    .default('pretty'),
  SLUICE_METRICS_OPEN_ON_LOOPBACK: z
    .enum(['true', 'false'], { error: 'SLUICE_METRICS_OPEN_ON_LOOPBACK must be true or false' })
    .default('false'),
  SLUICE_MIN_FREE_MB: count('SLUICE_MIN_FREE_MB', 0).default(256),
  SLUICE_INDEX_READERS: count('SLUICE_INDEX_READERS', 0)
    .max(64, 'SLUICE_INDEX_READERS must be at most 64')
    .optional(),
  SLUICE_BLOBS: z
    .string()
    .transform((url, ctx) => {
      try {
        return parseS3Url(url);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
  SLUICE_INDEX: serviceUrl(parseClickHouseUrl),
  SLUICE_STATE: serviceUrl(parsePostgresUrl),
  SLUICE_ROLE: z
    .string()
    .transform((value, ctx) => {
      const roles = value
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      const unknown = roles.find((r) => !(ROLES as readonly string[]).includes(r));
      if (unknown || !roles.length) {
        ctx.addIssue({
          code: 'custom',
          message: `SLUICE_ROLE must be ${ROLES.join(', ')} or several of frontend, worker, api separated by commas${unknown ? ` (not "${unknown}")` : ''}`,
        });
        return z.NEVER;
      }
      if (roles.includes('all') && roles.length > 1) {
        ctx.addIssue({ code: 'custom', message: 'SLUICE_ROLE "all" cannot be combined with other roles' });
        return z.NEVER;
      }
      return [...new Set(roles)] as Role[];
    })
    .optional(),
  SLUICE_BUS: z
    .string()
    .transform((url, ctx) => {
      if (!/^kafka:\/\/[^/?#\s]+(,[^/?#\s]+)*\/?$/.test(url)) {
        ctx.addIssue({
          code: 'custom',
          message: `SLUICE_BUS must be kafka://host:port[,host:port…] (got "${url}")`,
        });
        return z.NEVER;
      }
      return url.replace(/\/$/, '');
    })
    .optional(),
  SLUICE_BUS_REPLY_TIMEOUT_MS: count('SLUICE_BUS_REPLY_TIMEOUT_MS', 100).default(60_000),
  SLUICE_BUS_PARTITIONS: count('SLUICE_BUS_PARTITIONS', 1).default(12),
});

/** Every variable Sluice reads; `SLUICE_CONFIG` names the file. */
export const CONFIG_VARIABLES = [...Object.keys(envSchema.shape), 'SLUICE_CONFIG'] as const;
/** Variables of the same prefix that are not the engine's: the test suite's (the browser tests' chromium). */
const OTHERS_VARIABLES = ['SLUICE_CHROMIUM'];
/** `SLUICE_HTTP_PORT` ↔ `http_port` in a configuration file. */
const keyOf = (variable: string) => variable.slice('SLUICE_'.length).toLowerCase();
const FILE_KEYS = new Map(Object.keys(envSchema.shape).map((v) => [keyOf(v), v]));
/** Variables whose value is a path, resolved from a configuration file's folder when given there. */
const PATH_VARIABLES = new Set(['SLUICE_DATA_DIR', 'SLUICE_WATCH_ROOT']);

/** The default pipeline file, inside the package whatever the working directory. */
export const DEFAULT_PIPELINES = [join(PACKAGE_ROOT, 'pipelines', 'default.yaml')];

interface FileValues {
  values: Record<string, string>;
  /** `file:line:col` of each variable's value. */
  where: Map<string, string>;
}

/** Reads a configuration file: a YAML map of known keys to scalars (lists for comma-separated values). */
export function readConfigFile(file: string): FileValues {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (node: Node | null | undefined) => {
    const { line, col } = lineCounter.linePos(node?.range?.[0] ?? 0);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length)
    throw new ConfigError(
      doc.errors
        .map(
          (e) =>
            `${file}:${lineCounter.linePos(e.pos[0]).line}:${lineCounter.linePos(e.pos[0]).col} ${e.message.split('\n')[0]}`,
        )
        .join('\n'),
    );
  const values: Record<string, string> = {};
  const where = new Map<string, string>();
  if (doc.contents === null) return { values, where };
  if (!isMap(doc.contents)) throw new ConfigError(`${at(doc.contents)} expected a map of settings`);
  const problems: string[] = [];
  for (const pair of doc.contents.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const variable = FILE_KEYS.get(key);
    if (!variable) {
      problems.push(`${at(keyNode)} ${key}: unknown key "${key}"${didYouMean(key, FILE_KEYS.keys())}`);
      continue;
    }
    const value = (pair.value as Node | null)?.toJSON() as unknown;
    if (value === null || value === undefined) continue;
    if (Array.isArray(value) && value.every((v) => typeof v !== 'object')) values[variable] = value.join(',');
    else if (typeof value !== 'object') values[variable] = String(value);
    else {
      problems.push(`${at(pair.value as Node)} ${key}: expected a single value or a list`);
      continue;
    }
    if (PATH_VARIABLES.has(variable)) values[variable] = resolve(dirname(file), values[variable]);
    if (variable === 'SLUICE_PIPELINES')
      values[variable] = values[variable]
        .split(',')
        .map((p) => resolve(dirname(file), p.trim()))
        .join(',');
    where.set(variable, at(pair.value as Node));
  }
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return { values, where };
}

/**
 * The configuration from the environment (`process.env` by default) and the file it or `options.file`
 * names. Throws a ConfigError listing every problem: unknown variables and keys with the nearest valid
 * name, wrong values with where they were set.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  options: { file?: string } = {},
): EngineConfig {
  const fromEnv = Object.fromEntries(
    Object.entries(env).filter(([k, v]) => k.startsWith('SLUICE_') && v !== '' && v !== undefined),
  ) as Record<string, string>;
  for (const other of OTHERS_VARIABLES) delete fromEnv[other];
  const unknown = Object.keys(fromEnv).filter((k) => !(CONFIG_VARIABLES as readonly string[]).includes(k));
  if (unknown.length)
    throw new ConfigError(
      unknown.map((k) => `unknown environment variable ${k}${didYouMean(k, CONFIG_VARIABLES)}`).join('\n'),
    );
  const configFile = options.file ?? fromEnv.SLUICE_CONFIG;
  const file = configFile
    ? readConfigFile(resolve(configFile))
    : { values: {}, where: new Map<string, string>() };
  const { SLUICE_CONFIG: _file, ...variables } = fromEnv;
  const parsed = envSchema.safeParse({ ...file.values, ...variables });
  if (!parsed.success)
    throw new ConfigError(
      parsed.error.issues
        .map((i) => {
          const variable = String(i.path[0] ?? '');
          const at = variable in variables ? undefined : file.where.get(variable);
          return at
            ? `${at} ${keyOf(variable)}: ${i.message.replaceAll(variable, keyOf(variable))}`
            : `${variable}: ${i.message}`;
        })
        .join('\n'),
    );
  const e = parsed.data;
  if (e.SLUICE_ROLE && !e.SLUICE_ROLE.includes('all') && !e.SLUICE_BUS)
    throw new ConfigError(
      `SLUICE_ROLE: ${e.SLUICE_ROLE.join(',')} needs SLUICE_BUS (kafka://host:port): front ends and workers meet on the bus`,
    );
  return {
    dataDir: resolve(e.SLUICE_DATA_DIR),
    httpHost: e.SLUICE_HTTP_HOST,
    httpPort: e.SLUICE_HTTP_PORT,
    dicomHost: e.SLUICE_DICOM_HOST,
    dicomPort: e.SLUICE_DICOM_PORT,
    aeTitle: e.SLUICE_AE_TITLE,
    adminUser: e.SLUICE_ADMIN_USER,
    adminPassword: e.SLUICE_ADMIN_PASSWORD,
    sessionTimeoutSecs: e.SLUICE_SESSION_TIMEOUT_SECS,
    exportSetTtlSecs: e.SLUICE_EXPORT_SET_TTL_SECS,
    pipelines: e.SLUICE_PIPELINES
      ? e.SLUICE_PIPELINES.split(',')
          .map((p) => p.trim())
          .filter(Boolean)
      : DEFAULT_PIPELINES,
    forwarding: {
      quietMs: e.SLUICE_FORWARD_QUIET_MS,
      batchMax: e.SLUICE_FORWARD_BATCH_MAX,
      concurrency: e.SLUICE_FORWARD_CONCURRENCY,
      maxAttempts: e.SLUICE_FORWARD_MAX_ATTEMPTS,
      retryBaseMs: e.SLUICE_FORWARD_RETRY_BASE_MS,
      retryMaxMs: e.SLUICE_FORWARD_RETRY_MAX_MS,
    },
    watchRoot: e.SLUICE_WATCH_ROOT === undefined ? undefined : resolve(e.SLUICE_WATCH_ROOT),
    publicUrl: e.SLUICE_PUBLIC_URL?.replace(/\/+$/, ''),
    trustedProxies: e.SLUICE_TRUSTED_PROXIES,
    caseSensitiveNames: e.SLUICE_QR_CASE_SENSITIVE_NAMES,
    boxes: Object.fromEntries(
      Object.entries({
        pollIntervalMs: e.SLUICE_BOX_POLL_INTERVAL_MS,
        batchSize: e.SLUICE_BOX_BATCH_SIZE,
        parallelism: e.SLUICE_BOX_PARALLELISM,
        retryBaseMs: e.SLUICE_BOX_RETRY_BASE_MS,
        retryMaxMs: e.SLUICE_BOX_RETRY_MAX_MS,
      }).filter(([, v]) => v !== undefined),
    ),
    logLevel: e.SLUICE_LOG_LEVEL,
    logFormat: e.SLUICE_LOG_FORMAT,
    metricsOpenOnLoopback: e.SLUICE_METRICS_OPEN_ON_LOOPBACK === 'true',
    minFreeBytes: e.SLUICE_MIN_FREE_MB * 1024 * 1024,
    indexReaders: e.SLUICE_INDEX_READERS ?? Math.min(4, availableParallelism()),
    blobs: e.SLUICE_BLOBS,
    index: e.SLUICE_INDEX,
    state: e.SLUICE_STATE,
    roles: e.SLUICE_ROLE ?? ['all'],
    bus: e.SLUICE_BUS,
    busReplyTimeoutMs: e.SLUICE_BUS_REPLY_TIMEOUT_MS,
    busPartitions: e.SLUICE_BUS_PARTITIONS,
    configFile: configFile ? resolve(configFile) : undefined,
  };
}

/** The configuration as the debug log shows it: secrets masked. */
export function describeConfig(config: EngineConfig): Record<string, unknown> {
  return {
    ...config,
    adminPassword: '***',
    ...(config.index ? { index: maskedUrl(config.index) } : {}),
    ...(config.state ? { state: maskedUrl(config.state) } : {}),
  };
}
