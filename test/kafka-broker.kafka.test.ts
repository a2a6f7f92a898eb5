/**
 * The suite's Kafka broker (test/kafka-setup.ts) round trip: a topic of 4 partitions, 100 messages from an
 * idempotent producer (acks=all), all read back once by a consumer group with their keys.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, expect, inject, it } from 'vitest';
import { createTopic } from './helpers/kafka.js';
import { eventually } from './helpers/eventually.js';

const { brokers } = inject('kafka');
// Quiet: kafkajs logs the answers it retries (the coordinator loading on first use) as errors.
const kafka = new Kafka({ clientId: 'sluice-test', brokers: [brokers], logLevel: logLevel.NOTHING });
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
const consumer = kafka.consumer({
  groupId: `sluice-test-${randomBytes(4).toString('hex')}`,
  maxWaitTimeInMs: 500,
});

afterAll(async () => {
  await consumer.disconnect();
  await producer.disconnect();
});

it('carries 100 keyed messages through a topic of 4 partitions to a consumer group', async () => {
  const topic = `sluice-test-${randomBytes(4).toString('hex')}`;
  await createTopic(brokers, topic, 4);
  const sent = Array.from({ length: 100 }, (_, i) => ({ key: `key-${i}`, value: `value-${i}` }));
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: sent });

  const received: { key: string; value: string; partition: number }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      received.push({ key: String(message.key), value: String(message.value), partition });
    },
  });
  await eventually(() => expect(received).toHaveLength(100), 30_000);

  expect(
    received.map(({ key, value }) => ({ key, value })).sort((a, b) => a.key.localeCompare(b.key)),
  ).toEqual([...sent].sort((a, b) => a.key.localeCompare(b.key)));
  // The keys spread the messages over the partitions.
  expect(new Set(received.map((m) => m.partition)).size).toBeGreaterThan(1);
});
