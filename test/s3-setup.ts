/**
 * Global set-up of the S3 test project: one MinIO for the run (built first when absent, see
 * test/helpers/minio.ts), on a free loopback port with generated credentials and a bucket; stopped after.
 */
import type { TestProject } from 'vitest/node';
import { startMinio } from './helpers/minio.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The AWS variables that reach the suite's MinIO, and its bucket. */
    s3: { env: Record<string, string>; bucket: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const minio = await startMinio({ bucket: 'sluice-test' });
  project.provide('s3', { env: minio.env, bucket: minio.bucket });
  return () => minio.cleanup();
}
