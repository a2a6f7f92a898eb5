/**
 * Real DICOM peers for integration tests, on loopback with TCP_NODELAY=1: DCMTK storescp (files land in a
 * directory of their own) and Orthanc (bench/lib/orthanc.ts, shared with the benchmarks).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Proc } from '../../bench/lib/procs.js';
import { echoScp } from '../../src/dimse/scu/store-scu.js';
import { parseHeader } from '../../src/dicom/header.js';
import { freePort } from './engine.js';

export { startOrthanc, type RunningOrthanc } from '../../bench/lib/orthanc.js';

export interface RunningStorescp {
  aeTitle: string;
  port: number;
  /** Where storescp writes what it receives. */
  out: string;
  proc: Proc;
  /** SOP Instance UIDs of the received files, one per file (duplicates stay visible with +uf). */
  sopInstanceUids(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Starts `storescp` (AE STORESCP unless told, unique file names so that a second copy of an instance is a second file)
 * on `port` (a free one by default) and waits until it answers C-ECHO.
 */
export async function startStorescp(
  dir: string,
  opts: { port?: number; args?: string[]; aeTitle?: string } = {},
): Promise<RunningStorescp> {
  const port = opts.port ?? (await freePort());
  const aeTitle = opts.aeTitle ?? 'STORESCP';
  const out = await mkdtemp(join(dir, 'storescp-'));
  const proc = new Proc(
    'storescp',
    [...(opts.args ?? []), '+uf', '-od', out, '-aet', aeTitle, String(port)],
    {
      env: { ...process.env, TCP_NODELAY: '1' },
      group: true,
    },
  );
  for (let i = 0; ; i++) {
    try {
      await echoScp({ host: '127.0.0.1', port, calledAe: aeTitle, callingAe: 'TEST', timeoutMs: 2000 });
      break;
    } catch (err) {
      // A storescp started with --refuse is up when it refuses us.
      if ((err as { code?: string }).code === 'DIMSE.REJECTED') break;
      if (!proc.running || i > 100) {
        await proc.stop(1000);
        throw new Error(
          `storescp did not start on port ${port}: ${(err as Error).message}\n${proc.output()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    aeTitle,
    port,
    out,
    proc,
    async sopInstanceUids() {
      const names = (await readdir(out)).filter((n) => !n.startsWith('.'));
      return Promise.all(names.map(async (n) => parseHeader(await readFile(join(out, n))).sopInstanceUid));
    },
    stop: async () => void (await proc.stop(5000)),
  };
}

/** Polls until `probe` answers true, failing with `what` after timeoutMs. */
export async function eventually(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A `storescu -v` run, followed response by response. */
export interface FollowedStorescu {
  /** Files whose C-STORE was answered with success, in order. */
  acked: string[];
  /** How many were answered with a failure status. */
  failed(): number;
  exited: Promise<unknown>;
}

/** Starts `storescu -v <args>` (TCP_NODELAY set) and follows which files were acknowledged or refused. */
export function followStorescu(args: string[]): FollowedStorescu {
  const storescu = spawn('storescu', ['-v', ...args], { env: { ...process.env, TCP_NODELAY: '1' } });
  const acked: string[] = [];
  let failed = 0;
  let out = '';
  let current = '';
  const onData = (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      const sending = /Sending file: (.*)$/.exec(line);
      if (sending) current = sending[1].trim();
      if (/Received Store Response/.test(line) && current) {
        if (/\(Success\)/.test(line)) acked.push(current);
        else failed++;
      }
    }
  };
  storescu.stdout.on('data', onData);
  storescu.stderr.on('data', onData);
  return { acked, failed: () => failed, exited: new Promise((r) => storescu.once('exit', r)) };
}
