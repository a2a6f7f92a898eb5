/**
 * Global set-up of the projects that need Kafka: one broker for the run (its jars fetched with Maven first
 * when absent, see test/helpers/kafka.ts), on free loopback ports; stopped after.
 */
import type { TestProject } from 'vitest/node';
import { startKafka } from './helpers/kafka.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The suite's Kafka broker: `127.0.0.1:<port>` for kafkajs, and `kafka://127.0.0.1:<port>`. */
    kafka: { brokers: string; url: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const broker = await startKafka();
  project.provide('kafka', { brokers: broker.brokers, url: broker.url });
  return () => broker.stop();
}
