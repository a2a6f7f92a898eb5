/**
 * ClickHouse for the index tests: Debian's `clickhouse-server` 18.16 (installed by test/global-setup.ts),
 * started as a plain process with a generated config: HTTP and native ports free on 127.0.0.1, data, logs and
 * temporary files in a temporary folder, one user `default` without a password. Ready in about half a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './engine.js';

export const CLICKHOUSE_SERVER = '/usr/sbin/clickhouse-server';

export interface ClickHouseServer {
  /** `http://default@127.0.0.1:<port>` (add `/<database>` for SLUICE_INDEX). */
  url: string;
  process: ChildProcess;
  /** Stops the server (SIGKILL when `hard`) and keeps its data. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

const config = (dir: string, httpPort: number, tcpPort: number) => `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog><console>0</console></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>134217728</uncompressed_cache_size>
</yandex>
`;

const users = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;

async function ready(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`clickhouse-server exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/ping`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`clickhouse-server not ready on ${url} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startClickHouse(): Promise<ClickHouseServer> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-clickhouse-'));
  const [httpPort, tcpPort] = [await freePort(), await freePort()];
  await writeFile(join(dir, 'config.xml'), config(dir, httpPort, tcpPort));
  await writeFile(join(dir, 'users.xml'), users);
  const base = `http://127.0.0.1:${httpPort}`;
  let child!: ChildProcess;
  const start = async () => {
    child = spawn(CLICKHOUSE_SERVER, [`--config-file=${join(dir, 'config.xml')}`], {
      cwd: dir,
      stdio: 'ignore',
    });
    await ready(base, child, 30_000);
  };
  const stop = async (hard = false) => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `http://default@127.0.0.1:${httpPort}`,
    get process() {
      return child;
    },
    stop,
    start,
    cleanup: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
