/**
 * MinIO for the S3 tests: the binary built once with `go install` (pinned; ~8 minutes on 2 cores, reused
 * from ~/go/bin or $GOBIN when present), started as `minio server <tmpdir> --address 127.0.0.1:<free port>`
 * with generated credentials, and a bucket made in it. No Docker: a plain process on loopback.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './engine.js';

/** The MinIO the suite builds: a snapshot of its main branch from 2026-02-12 (NOTES.md). */
export const MINIO_MODULE = 'github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c';

/** Where `go install` puts binaries: $GOBIN, else $GOPATH/bin, else ~/go/bin. */
function goBin(): string {
  if (process.env.GOBIN) return process.env.GOBIN;
  const gopath = process.env.GOPATH?.split(':')[0];
  return join(gopath || join(homedir(), 'go'), 'bin');
}

/** The go command: on PATH, or where the official tarball installs it. */
export function goCommand(): string | undefined {
  if (spawnSync('/bin/sh', ['-c', 'command -v go']).status === 0) return 'go';
  return existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined;
}

/** The MinIO binary, if built. */
export function minioBinary(): string | undefined {
  const built = join(goBin(), 'minio');
  return existsSync(built) ? built : undefined;
}

/**
 * The MinIO binary, built first when absent (`.ci/run` starts the same build early in the background; a
 * build in progress is waited for through Go's own locks, and the result is the same file).
 */
export function ensureMinio(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const found = minioBinary();
  if (found) return found;
  const go = goCommand();
  if (!go)
    throw new Error(
      `The S3 tests need MinIO, built with Go (1.24 or later): install Go from https://go.dev/dl/ (Debian's golang is too old), then: go install ${MINIO_MODULE}`,
    );
  log(`test set-up: building MinIO (go install ${MINIO_MODULE}, ~8 minutes on 2 cores)`);
  const built = spawnSync(go, ['install', MINIO_MODULE], { stdio: 'inherit' });
  const binary = minioBinary();
  if (built.status !== 0 || !binary)
    throw new Error(`go install ${MINIO_MODULE} failed (exit ${built.status})`);
  return binary;
}

export interface MinioServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** A bucket made at start. */
  bucket: string;
  /** The variables an S3 client (and Sluice) reads. */
  env: Record<string, string>;
  /** Stops the server, keeping its data (an outage). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  cleanup(): Promise<void>;
}

export async function startMinio(
  options: {
    binary?: string;
    bucket?: string;
    /** Its data and home folder (default: a new temp folder). */ dir?: string;
  } = {},
): Promise<MinioServer> {
  const binary = options.binary ?? ensureMinio();
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'sluice-minio-')));
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const accessKeyId = `sluice${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(18).toString('base64url');
  const region = 'us-east-1';
  const bucket = options.bucket ?? 'sluice-test';
  let child: ChildProcess | undefined;
  let output = '';

  const start = async () => {
    output = '';
    const proc = spawn(binary, ['server', join(dir, 'data'), '--address', `127.0.0.1:${port}`, '--quiet'], {
      env: {
        ...process.env,
        MINIO_ROOT_USER: accessKeyId,
        MINIO_ROOT_PASSWORD: secretAccessKey,
        // No web console (it would listen on another port, on every interface).
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
        HOME: dir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`minio exited (${proc.exitCode}): ${output}`);
      const ready = await fetch(`${endpoint}/minio/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    proc.kill('SIGKILL');
    throw new Error(`minio did not start: ${output}`);
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  const env = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_REGION: region,
  };
  const client = new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    region,
    bucket,
    env,
    stop,
    start,
    async cleanup() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
