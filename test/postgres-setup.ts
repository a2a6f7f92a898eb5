/**
 * Global set-up of the projects that need PostgreSQL: one server for the run (Debian's, installed by
 * test/global-setup.ts), on a free loopback port; stopped after.
 */
import type { TestProject } from 'vitest/node';
import { startPostgres } from './helpers/postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `postgres://postgres@127.0.0.1:<port>`: the suite's PostgreSQL (add `/<database>`). */
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startPostgres();
  project.provide('postgresUrl', server.url);
  return () => server.cleanup();
}
