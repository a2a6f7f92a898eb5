/**
 * Global set-up of the ClickHouse test project: one ClickHouse 18.16 server for the run (Debian's
 * clickhouse-server, installed by test/global-setup.ts), on free loopback ports; stopped after.
 */
import type { TestProject } from 'vitest/node';
import { startClickHouse } from './helpers/clickhouse.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `http://default@127.0.0.1:<port>`: the suite's ClickHouse (add `/<database>`). */
    clickhouseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startClickHouse();
  project.provide('clickhouseUrl', server.url);
  return () => server.cleanup();
}
