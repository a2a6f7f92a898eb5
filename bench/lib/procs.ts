/**
 * Child processes and temp dirs of the benchmark, all tracked so that they are killed / removed on any exit
 * (normal end, error, Ctrl-C). Long-lived receivers run in their own process group (`detached`), so that
 * processes they fork (storescp --fork) are stopped with them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export interface ProcOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Append stdout and stderr to this file (otherwise they are captured in memory, the last 64 KiB). */
  logFile?: string;
  /** Run in a process group of its own; stop() then signals the whole group. */
  group?: boolean;
}

const CAPTURE_LIMIT = 64 * 1024;
const live = new Set<Proc>();
const tempDirs = new Set<string>();
/** Set once an interruption or a fatal error is stopping the benchmark. */
let exiting = false;
/** Whether an interruption or a fatal error is stopping the benchmark (its work should end). */
export const interrupted = () => exiting;

export class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  readonly label: string;
  private exitInfo: ExitInfo | undefined;
  private captured = '';
  private readonly logFile: string | undefined;
  private readonly group: boolean;

  constructor(cmd: string, args: string[], opts: ProcOptions = {}) {
    // An interrupted benchmark starts nothing more while it stops its services.
    if (exiting) throw new Error(`interrupted: not starting ${cmd}`);
    this.label = `${cmd} ${args.join(' ')}`;
    this.logFile = opts.logFile;
    this.group = opts.group ?? false;
    const logFd = opts.logFile ? openSync(opts.logFile, 'a') : undefined;
    try {
      this.child = spawn(cmd, args, {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        detached: this.group,
        stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
      });
    } finally {
      if (logFd !== undefined) closeSync(logFd);
    }
    live.add(this);
    const append = (chunk: Buffer) => {
      this.captured += chunk.toString('utf8');
      if (this.captured.length > CAPTURE_LIMIT) this.captured = this.captured.slice(-CAPTURE_LIMIT);
    };
    this.child.stdout?.on('data', append);
    this.child.stderr?.on('data', append);
    this.exited = new Promise<ExitInfo>((resolve) => {
      let spawnError: Error | undefined;
      this.child.once('error', (error) => {
        spawnError = error;
        // A process that failed to spawn never emits 'exit'.
        if (this.child.pid === undefined) finish({ code: null, signal: null, error });
      });
      const finish = (info: ExitInfo) => {
        if (this.exitInfo) return;
        this.exitInfo = info;
        live.delete(this);
        resolve(info);
      };
      this.child.once('close', (code, signal) => finish({ code, signal, error: spawnError }));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** Captured output, or the tail of the log file. */
  output(maxChars = 4000): string {
    let text = this.captured;
    if (this.logFile) {
      try {
        text = readFileSync(this.logFile, 'utf8');
      } catch {
        text = '';
      }
    }
    return text.length > maxChars ? '…' + text.slice(-maxChars) : text;
  }

  signal(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(this.group ? -pid : pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL after graceMs; finally SIGKILL whatever is left in the process group. */
  async stop(graceMs = 10_000): Promise<ExitInfo> {
    if (this.running) {
      this.signal('SIGTERM');
      const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.group) this.signal('SIGKILL');
    return this.exitInfo!;
  }
}

/** Runs a command to completion, capturing its output. */
export async function run(
  cmd: string,
  args: string[],
  opts: ProcOptions = {},
): Promise<ExitInfo & { output: string }> {
  const proc = new Proc(cmd, args, opts);
  const info = await proc.exited;
  return { ...info, output: proc.output() };
}

export function registerTempDir(dir: string): string {
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export function syncDisks(): void {
  spawnSync('sync', { stdio: 'ignore' });
}

let keepTemp = false;
export function keepTempDirs(keep: boolean): void {
  keepTemp = keep;
}

/** Synchronous, so it also works from process.on('exit'). */
export function cleanupSync(): void {
  for (const proc of live) {
    proc.signal('SIGKILL');
    live.delete(proc);
  }
  for (const dir of tempDirs) {
    if (keepTemp) {
      console.error(`kept ${dir}`);
    } else {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
    tempDirs.delete(dir);
  }
}

const stoppers = new Set<() => Promise<void>>();

/**
 * Registers an asynchronous stop (a service started by a helper whose process the benchmark does not own:
 * MinIO, ClickHouse, PostgreSQL) that an interruption or a fatal error awaits before exiting; the benchmark
 * also calls it itself at its end. Answers the function that unregisters it.
 */
export function onInterrupt(stop: () => Promise<void>): () => void {
  stoppers.add(stop);
  return () => void stoppers.delete(stop);
}

/** Kills the children, awaits the registered stops (10 s at most), removes the temp dirs and exits. */
async function shutdown(code: number): Promise<never> {
  if (!exiting) {
    exiting = true;
    for (const proc of live) proc.signal('SIGKILL');
    const all = Promise.allSettled([...stoppers].map((stop) => stop()));
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    cleanupSync();
  }
  process.exit(code);
}

export function installCleanupHandlers(): void {
  process.on('exit', cleanupSync);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping children and services, removing temp dirs`);
      void shutdown(code);
    });
  }
  const fatal = (err: unknown) => {
    console.error('fatal:', err instanceof Error ? (err.stack ?? err.message) : err);
    void shutdown(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}
