/**
 * What an operator asks a running engine: is it ready (every pipeline and component working, room on the
 * disk), and what is it (version, uptime, AE title, ports, data directory, storage, counts, pipelines).
 * Read from `engine.pipelines()` and the configuration; nothing here changes state.
 */
import { opendir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiDeps } from '../api/deps.js';
import { describeConfig, type EngineConfig } from '../config.js';

export interface Readiness {
  ready: boolean;
  /** What is wrong, one line each: `pipeline default: sources[0] (dicom_scp) failed: …`, `disk: …`. */
  problems: string[];
}

interface Disk {
  freeBytes: number;
  totalBytes: number;
}

async function disk(dir: string): Promise<Disk> {
  const s = await statfs(dir);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/**
 * Ready when the engine reports no problem (every pipeline runs, every source is up: what
 * `/api/system/health` checks) and the data directory has room.
 */
export async function readiness(deps: ApiDeps): Promise<Readiness> {
  const problems = deps.engine.problems();
  const { config } = deps.engine.services;
  const minFree = config.minFreeBytes ?? 256 * 1024 * 1024;
  try {
    const { freeBytes } = await disk(config.dataDir);
    if (freeBytes < minFree)
      problems.push(
        `disk: ${mb(freeBytes)} MB free in ${config.dataDir}, below the ${mb(minFree)} MB required (SLUICE_MIN_FREE_MB)`,
      );
  } catch (err) {
    problems.push(`disk: cannot read ${config.dataDir}: ${(err as Error).message}`);
  }
  return { ready: problems.length === 0, problems };
}

const mb = (bytes: number) => Math.floor(bytes / (1024 * 1024));

/** Bytes under a folder (no links followed), cached: walking a large store is not done per request. */
const usage = new Map<string, { bytes: number; at: number; walking?: Promise<number> }>();
const USAGE_TTL_MS = 60_000;

async function walk(dir: string): Promise<number> {
  let total = 0;
  let handle;
  try {
    handle = await opendir(dir);
  } catch {
    return 0;
  }
  for await (const entry of handle) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await walk(path);
    else if (entry.isFile())
      total += await stat(path).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}

/** The bytes Sluice keeps in `dir`: the last walk's figure, walked again in the background when stale. */
export async function usedBytes(dir: string): Promise<number> {
  const cached = usage.get(dir);
  const now = Date.now();
  if (cached && now - cached.at < USAGE_TTL_MS) return cached.bytes;
  if (cached?.walking) return cached.walking;
  const walking = walk(dir).then((bytes) => {
    usage.set(dir, { bytes, at: Date.now() });
    return bytes;
  });
  usage.set(dir, { bytes: cached?.bytes ?? 0, at: cached?.at ?? 0, walking });
  return cached ? cached.bytes : walking;
}

const startedAt = Date.now();

/** Where the blob store, the index and the state store are: a file or folder, or a service's URL. */
export function storeLocations(config: EngineConfig): Record<'blobs' | 'index' | 'state', string> {
  const described = describeConfig(config) as { index?: string; state?: string };
  return {
    blobs: config.blobs
      ? `s3://${config.blobs.bucket}/${config.blobs.prefix}`
      : join(config.dataDir, 'storage'),
    index: described.index ?? join(config.dataDir, 'index.sqlite'),
    state: described.state ?? join(config.dataDir, 'state.sqlite'),
  };
}

/** `/api/system/information`: Slicebox's `{version}` for anyone, and the rest for signed-in users. */
export async function systemInformation(deps: ApiDeps, signedIn: boolean): Promise<Record<string, unknown>> {
  if (!signedIn) return { version: deps.version };
  const { config } = deps.engine.services;
  const [space, used] = await Promise.all([
    disk(config.dataDir).catch(() => undefined),
    usedBytes(config.dataDir),
  ]);
  return {
    version: deps.version,
    startedAt: new Date(startedAt).toISOString(),
    uptimeSecs: Math.round(process.uptime()),
    aeTitle: config.aeTitle,
    httpHost: config.httpHost,
    httpPort: deps.httpPort?.() ?? config.httpPort,
    dicomHost: config.dicomHost,
    dicomPort: config.dicomPort,
    dataDir: config.dataDir,
    storage: {
      usedBytes: used,
      freeBytes: space?.freeBytes ?? null,
      totalBytes: space?.totalBytes ?? null,
    },
    // Where each store is (passwords masked): the embedded files, or the services of a site at scale.
    stores: storeLocations(config),
    counts: await deps.index.counts(),
    pipelines: deps.engine.pipelines().map((p) => ({
      name: p.name,
      file: p.file,
      running: p.running,
      inFlight: p.inFlight,
      acknowledged: p.acknowledged,
      dropped: p.dropped,
      quarantined: p.quarantined,
      healthy: p.healthy,
      components: p.components.map((c) => ({
        path: c.path,
        kind: c.kind,
        type: c.type,
        ...(c.state ? { state: c.state } : {}),
        ...(c.error ? { error: c.error } : {}),
      })),
    })),
  };
}
