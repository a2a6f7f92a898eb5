/**
 * PostgreSQL for the state store tests: Debian's server (installed by test/global-setup.ts), a cluster made
 * by `initdb` in a temporary folder and run as a plain process by the `postgres` user (the server refuses
 * root), on a free port of 127.0.0.1, trust authentication, user `postgres`. Commits are synchronous (a test
 * that kills the server loses nothing committed); fsync is off, as the tests never stop this host. Ready in
 * about a second.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './engine.js';

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>` (add `/<database>` for SLUICE_STATE). */
  url: string;
  /** Stops the server (SIGKILL when `hard`) and keeps its data. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

/** The newest installed server's programs (`/usr/lib/postgresql/<major>/bin`). */
export function postgresBin(): string {
  const majors = readdirSync('/usr/lib/postgresql')
    .filter((d) => /^\d+$/.test(d))
    .sort((a, b) => Number(b) - Number(a));
  if (!majors.length) throw new Error('PostgreSQL is not installed (Debian package postgresql)');
  return `/usr/lib/postgresql/${majors[0]}/bin`;
}

/** The `postgres` user's ids when we are root (the server will not run as root); else our own. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres']).toString()));
  return { uid, gid };
}

async function ready(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}`);
    const client = new pg.Client({ connectionString: `${url}/postgres` });
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > until) throw new Error(`postgres not ready on ${url} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startPostgres(): Promise<PostgresServer> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-postgres-'));
  const user = serverUser();
  if (user) chownSync(dir, user.uid, user.gid);
  chmodSync(dir, 0o700);
  const bin = postgresBin();
  const data = join(dir, 'data');
  execFileSync(`${bin}/initdb`, ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'], {
    ...user,
    stdio: 'ignore',
  });
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}`;
  let child!: ChildProcess;
  const start = async () => {
    child = spawn(
      `${bin}/postgres`,
      [
        ...['-D', data, '-p', String(port), '-k', dir],
        ...['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=400'],
        // No fsync: a killed server keeps what it committed in the page cache (the tests never stop the host).
        ...['-c', 'fsync=off', '-c', 'full_page_writes=off'],
      ],
      { ...user, stdio: 'ignore' },
    );
    await ready(url, child, 30_000);
  };
  const stop = async (hard = false) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    // SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave).
    child.kill(hard ? 'SIGKILL' : 'SIGINT');
    await exited;
  };
  await start();
  return {
    url,
    stop,
    start,
    cleanup: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
