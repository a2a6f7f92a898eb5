/** Small helpers of the benchmark: ports, polling, file counts, HTTP, DICOM echo, memory of a process tree. */
import { createServer } from 'node:net';
import { readdir, stat } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './procs.js';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A TCP port free on all interfaces (storescp and Orthanc bind 0.0.0.0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: '0.0.0.0', exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

/** Distinct free ports (the kernel may hand out the same port twice after close). */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/**
 * Polls `probe` until it returns a value other than undefined; throws after timeoutMs, or as soon as
 * `failed()` returns a reason (e.g. the process under test exited).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; failed?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = '';
  for (;;) {
    const reason = opts.failed?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: timed out after ${opts.timeoutMs} ms${lastError ? ` (${lastError})` : ''}`);
    await sleep(opts.intervalMs ?? 100);
  }
}

/** Regular files under dir, recursively, optionally only those whose name ends with suffix. */
export async function countFiles(dir: string, suffix?: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let n = 0;
  for (const entry of entries) {
    if (entry.isDirectory()) n += await countFiles(join(dir, entry.name), suffix);
    else if (entry.isFile() && (!suffix || entry.name.endsWith(suffix))) n++;
  }
  return n;
}

export async function httpStatus(url: string, init: RequestInit = {}): Promise<number> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status;
}

export async function httpJson(url: string, init: RequestInit = {}): Promise<unknown> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}

export function basicAuth(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

/** C-ECHO with DCMTK echoscu; true when the association and the echo succeeded. */
export async function dicomEcho(calledAe: string, port: number): Promise<boolean> {
  const result = await run('echoscu', [
    '-aet',
    'BENCH',
    '-aec',
    calledAe,
    '-to',
    '5',
    '127.0.0.1',
    String(port),
  ]);
  return result.code === 0;
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

function childPids(pid: number): number[] {
  try {
    const out: number[] = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
    return out;
  } catch {
    return [];
  }
}

/**
 * Samples the resident memory of a process and its descendants every intervalMs; `peakMb()` is the
 * largest sampled sum, or the kernel's high-water mark of the root process (VmHWM) if that is larger.
 */
export class RssSampler {
  private peakKb = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    this.sample();
  }

  private sample(): void {
    let total = 0;
    const stack = [this.pid];
    const seen = new Set<number>();
    while (stack.length) {
      const pid = stack.pop()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      total += statusKb(pid, 'VmRSS');
      stack.push(...childPids(pid));
    }
    this.peakKb = Math.max(this.peakKb, total, statusKb(this.pid, 'VmHWM'));
  }

  /** Takes a last sample (call before stopping the process) and stops sampling. */
  finish(): number {
    this.sample();
    clearInterval(this.timer);
    return this.peakMb();
  }

  peakMb(): number {
    return this.peakKb / 1024;
  }
}

/** Sum of the sizes of the given files, in bytes. */
export async function totalBytes(files: string[]): Promise<number> {
  let sum = 0;
  for (const file of files) sum += (await stat(file)).size;
  return sum;
}

export function median(values: number[]): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** CPU time used so far by a process (all its threads) and by its main thread, in ms (from /proc). */
export function cpuMs(pid: number): { totalMs: number; mainMs: number } | undefined {
  const ticks = (path: string) => {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  };
  try {
    const hz = 100; // USER_HZ on Linux
    return {
      totalMs: (ticks(`/proc/${pid}/stat`) * 1000) / hz,
      mainMs: (ticks(`/proc/${pid}/task/${pid}/stat`) * 1000) / hz,
    };
  } catch {
    return undefined;
  }
}
