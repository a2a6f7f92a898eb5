/**
 * BlobStore on S3-compatible object storage (AWS S3, MinIO, Garage, Ceph…): `<prefix><key>.dcm` in one
 * bucket, path-style addressing, any endpoint. Endpoint, credentials and region come from the standard AWS
 * variables, which the SDK reads itself (`AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`). An object is visible only once its PUT (or its multipart upload's
 * completion) succeeded, and a PUT replaces the previous object atomically: the same guarantees as the file
 * store's fsync and rename. Objects up to `partBytes` go in one PUT; larger ones stream in parts of that size,
 * so no large instance is held whole in memory.
 *
 * Outages: every failure to reach the store (no connection, timeouts, 5xx, a missing bucket, refused
 * credentials) is a StorageUnavailableError (503; a C-STORE answers 0xA700) and makes `problem()` report
 * the store down until a probe of the bucket succeeds again; work resumes without a restart.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { BlobDraft, BlobStore } from './blob-store.js';
import type { S3Location } from '../config.js';
import { NotFoundError, SluiceError, StorageError, StorageUnavailableError } from '../errors.js';
import { logger } from '../ops/logger.js';
import { now, type StageTimings } from '../pipeline/stage-timings.js';

const log = logger('s3');

const KEY = /^[0-9A-Za-z._-]{1,128}$/;
const MiB = 1024 * 1024;
/** S3's smallest part (except the last). */
const MIN_PART_BYTES = 5 * MiB;
/** Multipart uploads older than this under our prefix were left by a crash: aborted at open. */
const STALE_UPLOAD_MS = 24 * 3600_000;

export interface S3BlobStoreOptions {
  location: S3Location;
  /** Objects up to this size are sent in one PUT, larger ones in parts of this size (at least 5 MiB). */
  partBytes?: number;
  /** A client of our own (tests); by default one with path-style addressing from the AWS variables. */
  client?: S3Client;
  timings?: StageTimings;
  /** How often the bucket is probed while the store works (ms); while it is down, every second. */
  probeIntervalMs?: number;
  /** Keys per ListObjectsV2 page (S3's maximum, 1000, by default; smaller in tests). */
  listPageSize?: number;
}

/** Where the SDK sends requests, as a person configured it (for messages). */
export function describeS3Endpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || `AWS S3 (${env.AWS_REGION || 'default region'})`;
}

/** A client as Sluice uses it: path-style, short connection timeout, a bounded number of retries. */
export function createS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  return new S3Client({
    forcePathStyle: true,
    // MinIO and most S3-compatible servers ignore the region, but the SDK needs one to sign.
    ...(env.AWS_REGION || env.AWS_DEFAULT_REGION ? {} : { region: 'us-east-1' }),
    maxAttempts: 3,
    requestHandler: {
      connectionTimeout: 3_000,
      // Idle time on an open request (a stalled server), not a limit on a long transfer.
      requestTimeout: 30_000,
      httpAgent: { keepAlive: true, maxSockets: 64 },
      httpsAgent: { keepAlive: true, maxSockets: 64 },
    },
  });
}

/**
 * Opens the store: checks that the bucket answers (a clear StorageUnavailableError naming S3, the endpoint
 * and the bucket when it does not, which stops the start) and aborts multipart uploads a crash left behind.
 */
export async function openS3BlobStore(options: S3BlobStoreOptions): Promise<S3BlobStore> {
  const store = new S3BlobStore(options);
  await store.check();
  await store
    .abortStaleUploads()
    .catch((err: Error) => log.warn({ err: err.message }, 'cannot list multipart uploads left by a crash'));
  store.startProbing();
  return store;
}

export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint: string;
  private readonly partBytes: number;
  readonly timings?: StageTimings;
  private readonly probeIntervalMs: number;
  private readonly listPageSize: number;
  private down: string | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: S3BlobStoreOptions) {
    this.client = options.client ?? createS3Client();
    this.bucket = options.location.bucket;
    this.prefix = options.location.prefix;
    this.endpoint = describeS3Endpoint();
    this.partBytes = Math.max(MIN_PART_BYTES, options.partBytes ?? 8 * MiB);
    this.timings = options.timings;
    this.probeIntervalMs = options.probeIntervalMs ?? 10_000;
    this.listPageSize = options.listPageSize ?? 1000;
  }

  /** `s3://bucket/prefix at endpoint`, for messages. */
  get where(): string {
    return `S3 bucket "${this.bucket}"${this.prefix ? ` (prefix ${this.prefix})` : ''} at ${this.endpoint}`;
  }

  objectKey(key: string): string {
    if (!KEY.test(key) || key.startsWith('.')) throw new StorageError(`invalid storage key "${key}"`);
    return `${this.prefix}${key}.dcm`;
  }

  draft(key: string): BlobDraft {
    return new S3Draft(this, key, this.objectKey(key), this.partBytes);
  }

  async putFile(key: string, fromPath: string): Promise<void> {
    const objectKey = this.objectKey(key);
    const t = now();
    try {
      const { size } = await stat(fromPath);
      // A small file goes as bytes (the SDK can retry them); a large one streams in parts.
      if (size <= this.partBytes)
        await this.track(
          this.client.send(new PutObjectCommand(this.putParams(objectKey, await readFile(fromPath)))),
        );
      else await this.upload(objectKey, createReadStream(fromPath, { highWaterMark: MiB }));
    } catch (err) {
      throw this.failure(`cannot store ${key}`, err);
    }
    this.timings?.record('storage.put', now() - t);
  }

  async putBytes(key: string, bytes: Buffer): Promise<void> {
    const objectKey = this.objectKey(key);
    const t = now();
    try {
      if (bytes.length <= this.partBytes)
        await this.track(this.client.send(new PutObjectCommand(this.putParams(objectKey, bytes))));
      else await this.upload(objectKey, bytes);
    } catch (err) {
      throw this.failure(`cannot store ${key}`, err);
    }
    this.timings?.record('storage.put', now() - t);
  }

  async open(key: string): Promise<{ stream: Readable; size: number }> {
    try {
      const out = await this.track(
        this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) })),
      );
      return { stream: out.Body as Readable, size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`stored file ${key}`);
      throw this.failure(`cannot read ${key}`, err);
    }
  }

  /** Not a file system: readers stream through `open` (src/storage/stored-object.ts). */
  localPath(): undefined {
    return undefined;
  }

  async stat(key: string): Promise<{ size: number; modifiedMs: number } | undefined> {
    try {
      const out = await this.track(
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) })),
      );
      return { size: out.ContentLength ?? 0, modifiedMs: out.LastModified?.getTime() ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.failure(`cannot look up ${key}`, err);
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== undefined;
  }

  async delete(key: string): Promise<void> {
    try {
      // Deleting a missing key succeeds in S3: idempotent as the port asks.
      await this.track(
        this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) })),
      );
    } catch (err) {
      throw this.failure(`cannot delete ${key}`, err);
    }
  }

  async *keys(): AsyncIterable<string> {
    try {
      for await (const page of paginateListObjectsV2(
        { client: this.client, pageSize: this.listPageSize },
        { Bucket: this.bucket, Prefix: this.prefix },
      )) {
        this.answered();
        for (const object of page.Contents ?? []) {
          const name = object.Key?.slice(this.prefix.length) ?? '';
          if (name.endsWith('.dcm') && KEY.test(name.slice(0, -4))) yield name.slice(0, -4);
        }
      }
    } catch (err) {
      throw this.failure('cannot list the stored files', err);
    }
  }

  problem(): string | undefined {
    return this.down;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probeTimer);
    this.client.destroy();
  }

  /** Throws a StorageUnavailableError naming S3, the endpoint and the bucket unless the bucket answers. */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      this.answered();
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // HeadBucket answers a missing bucket with a bare 404.
      if (status === 404)
        throw this.failure(
          'cannot reach',
          Object.assign(new Error('the bucket does not exist'), { cause: err }),
        );
      throw this.failure('cannot reach', err);
    }
  }

  async abortStaleUploads(): Promise<void> {
    const out = await this.client.send(
      new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix }),
    );
    for (const u of out.Uploads ?? [])
      if (u.Key && u.UploadId && Date.now() - (u.Initiated?.getTime() ?? Date.now()) > STALE_UPLOAD_MS)
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
        );
  }

  /** Probes the bucket in the background: seldom while it answers, every second while it does not. */
  startProbing(): void {
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    clearTimeout(this.probeTimer);
    if (this.closed) return;
    this.probeTimer = setTimeout(
      () =>
        void this.check()
          .catch(() => undefined)
          .finally(() => this.scheduleProbe()),
      this.down ? 1_000 : this.probeIntervalMs,
    );
    this.probeTimer.unref();
  }

  /** Awaits a request, keeping track of whether the store answers. */
  async track<T>(request: Promise<T>): Promise<T> {
    try {
      const out = await request;
      this.answered();
      return out;
    } catch (err) {
      // A missing object is an answer: the store works.
      if (isNotFound(err)) this.answered();
      throw err;
    }
  }

  async upload(objectKey: string, body: Readable | Buffer, queueSize = 4): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: objectKey, Body: body, ContentType: 'application/dicom' },
      partSize: this.partBytes,
      queueSize,
    });
    await upload.done();
    this.answered();
  }

  putParams(objectKey: string, body: Buffer) {
    return { Bucket: this.bucket, Key: objectKey, Body: body, ContentType: 'application/dicom' };
  }

  /** The store answered a request. */
  answered(): void {
    if (this.down) log.info({ bucket: this.bucket, endpoint: this.endpoint }, 'S3 answers again');
    this.down = undefined;
  }

  /** The error to raise for a failed request: unavailable (and the store marked down) or a plain failure. */
  failure(what: string, err: unknown): SluiceError {
    if (err instanceof SluiceError) return err;
    const reason = describeS3Error(err);
    if (what === 'cannot reach' || isUnavailable(err)) {
      const message = `${what === 'cannot reach' ? 'cannot reach' : `${what}:`} ${this.where}: ${reason}`;
      if (this.closed) return new StorageUnavailableError(message, { cause: err });
      const wasUp = !this.down;
      this.down = `blob store: ${this.where} does not answer: ${reason}`;
      if (wasUp) {
        log.error({ bucket: this.bucket, endpoint: this.endpoint, reason }, 'S3 does not answer');
        // Probe every second from now on, so that work resumes as soon as it answers again.
        if (this.probeTimer) this.scheduleProbe();
      }
      return new StorageUnavailableError(message, { cause: err });
    }
    return new StorageError(`${what}: ${this.where}: ${reason}`, { cause: err });
  }
}

/**
 * A draft as an upload fed while the PDVs arrive: nothing is sent until a part's worth has come (then parts
 * go in the background, two at a time) or until `commit`, which sends what is left in one PUT (a small
 * instance) or as the last part, and completes the upload. Discarding sends nothing, or aborts the upload.
 */
class S3Draft implements BlobDraft {
  private readonly body = new PassThrough();
  private readonly done: Promise<unknown>;
  private readonly upload: Upload;
  private state: 'open' | 'committed' | 'discarded' = 'open';

  constructor(
    private readonly store: S3BlobStore,
    readonly key: string,
    objectKey: string,
    partBytes: number,
  ) {
    this.upload = new Upload({
      client: store.client,
      params: { Bucket: store.bucket, Key: objectKey, Body: this.body, ContentType: 'application/dicom' },
      partSize: partBytes,
      queueSize: 2,
    });
    this.done = this.upload.done();
    this.done.catch(() => undefined);
  }

  write(bytes: Buffer): void {
    if (this.state === 'open') this.body.write(bytes);
  }

  async commit(): Promise<void> {
    if (this.state === 'committed') return;
    if (this.state === 'discarded') throw new StorageError(`the draft of ${this.key} was discarded`);
    const t = now();
    this.body.end();
    try {
      await this.done;
    } catch (err) {
      this.state = 'discarded';
      throw this.store.failure(`cannot store ${this.key}`, err);
    }
    this.state = 'committed';
    this.store.answered();
    this.store.timings?.record('storage.put', now() - t);
  }

  async discard(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'discarded';
    await this.upload.abort();
    this.body.destroy(new Error('draft discarded'));
    await this.done.catch(() => undefined);
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || (e?.name === 'NotFound' && e.$metadata?.httpStatusCode === 404);
}

/** Whether a failure means the store cannot be used now (rather than a request it refused). */
function isUnavailable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined) return true; // no answer at all: refused, reset, timed out, no such host
  if (status >= 500) return true;
  return (
    status === 403 ||
    e.name === 'NoSuchBucket' ||
    e.name === 'InvalidAccessKeyId' ||
    e.name === 'SignatureDoesNotMatch'
  );
}

/** A short reason: the S3 error code or the network error, and the HTTP status. */
export function describeS3Error(err: unknown): string {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    errors?: Array<{ code?: string; message?: string }>;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e?.$metadata?.httpStatusCode;
  const code = e?.code ?? e?.errors?.[0]?.code;
  const message = e?.message || e?.errors?.[0]?.message || e?.name || String(err);
  if (status)
    return `${e.name ?? 'error'} (HTTP ${status})${message && message !== e.name ? `: ${message}` : ''}`;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
