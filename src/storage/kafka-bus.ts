/**
 * The event bus on Kafka (kafkajs 2.2.4; NOTES.md: it negotiates versions Kafka 4.x accepts). One topic per
 * pipeline (`sluice.instances.<name>`, created with SLUICE_BUS_PARTITIONS partitions when missing), keyed by
 * StudyInstanceUID; one consumer group per pipeline for its workers; one topic of results
 * (`sluice.results`) that each front end reads from its end, in a group of its own, keeping the results
 * addressed to it.
 *
 * Producing: one idempotent producer (acks=all, so a retry after NOT_LEADER never duplicates), one request
 * in flight; events published while a request is out go together in the next one, so concurrent
 * associations share round trips instead of queueing one by one.
 *
 * Consuming: kafkajs hands each partition's batches one at a time. Events of one key (a study) are handled
 * in order, different keys at once (the pipeline bounds how many are in flight); the batch's offset is
 * committed once every event of it was handled. A worker that dies before the commit leaves the batch to
 * the member that takes the partition over.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Consumer, type Message, type Producer } from 'kafkajs';
import { StorageUnavailableError } from '../errors.js';
import { logger } from '../ops/logger.js';
import {
  groupOf,
  topicOf,
  type Consumption,
  type EventBus,
  type EventResult,
  type InstanceEvent,
  type PartitionLag,
} from './event-bus.js';

const log = logger('bus');

export const RESULTS_TOPIC = 'sluice.results';

export interface KafkaBusOptions {
  /** `kafka://host:port[,host:port…]` */
  url: string;
  /** Partitions of a pipeline's topic when it is created here. */
  partitions?: number;
  /** Names this process in the brokers' logs and in its results group. */
  clientId?: string;
  /** How long a member may be silent before its partitions go to the others (kafkajs default 30 s). */
  sessionTimeoutMs?: number;
}

/** The brokers of a `kafka://` URL. */
export function brokersOf(url: string): string[] {
  return url
    .replace(/^kafka:\/\//, '')
    .replace(/\/$/, '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
}

/** Connects (an unreachable cluster stops the start, named) and creates nothing until it is used. */
export async function openKafkaBus(options: KafkaBusOptions): Promise<EventBus> {
  const bus = new KafkaBus(options);
  await bus.connect();
  return bus;
}

interface Outgoing {
  topic: string;
  message: Message;
  resolve: () => void;
  reject: (err: Error) => void;
}

class KafkaBus implements EventBus {
  readonly describe: string;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly clientId: string;
  private readonly partitions: number;
  private readonly sessionTimeoutMs: number;
  private readonly topics = new Map<string, Promise<void>>();
  private queue: Outgoing[] = [];
  private sending = false;
  private down: string | undefined;
  private probe: NodeJS.Timeout | undefined;
  private replies: { address: string; consumer: Consumer } | undefined;
  private opening: Promise<string> | undefined;
  private readonly waiting = new Map<string, (result: EventResult) => void>();
  private readonly consumers = new Set<Consumer>();

  constructor(options: KafkaBusOptions) {
    const brokers = brokersOf(options.url);
    this.describe = `Kafka at ${brokers.join(',')}`;
    this.clientId = options.clientId ?? `sluice-${randomUUID().slice(0, 8)}`;
    this.partitions = options.partitions ?? 12;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 10_000;
    this.kafka = new Kafka({
      clientId: this.clientId,
      brokers,
      connectionTimeout: 3_000,
      logLevel: logLevel.ERROR,
      // kafkajs logs at ERROR what it retries and overcomes (a new topic's partitions without leaders, a
      // coordinator loading, a rebalance): debug here. What does not pass is reported by this adapter
      // (refused publishes, health, a consumer that crashed).
      logCreator:
        () =>
        ({ log: entry }) => {
          const { message, ...rest } = entry;
          log.debug({ kafka: rest }, message);
        },
    });
    // An idempotent producer retries for ever by default: a C-STORE would wait for the broker as long as it
    // is down. About 6 s of retries, then the instance is refused (0xA700) and its sender tries again later.
    this.producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 3_000 },
    });
    this.admin = this.kafka.admin();
  }

  async connect(): Promise<void> {
    try {
      await this.admin.connect();
      await this.admin.describeCluster();
      await this.producer.connect();
    } catch (err) {
      await this.close().catch(() => undefined);
      throw new StorageUnavailableError(`${this.describe} is unreachable: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /**
   * Creates the topic once (an existing one is kept as it is). Several processes starting together race to
   * create it, and a new topic's partitions answer "not hosted here" until they have leaders: tried again
   * until every partition has a leader, for up to 30 s.
   */
  private ensureTopic(topic: string, partitions: number): Promise<void> {
    let made = this.topics.get(topic);
    if (!made) {
      made = this.createTopic(topic, partitions);
      made.catch(() => this.topics.delete(topic));
      this.topics.set(topic, made);
    }
    return made;
  }

  private async createTopic(topic: string, partitions: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if (!(await this.admin.listTopics()).includes(topic))
          await this.admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
        const { topics } = await this.admin.fetchTopicMetadata({ topics: [topic] });
        const found = topics.find((t) => t.name === topic);
        if (found?.partitions.length && found.partitions.every((p) => p.leader >= 0)) return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (Date.now() > deadline)
        throw new StorageUnavailableError(`${this.describe}: topic ${topic} has no leader`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async publish(event: InstanceEvent): Promise<void> {
    const topic = topicOf(event.pipeline);
    await this.ensureTopic(topic, this.partitions);
    await this.send(topic, {
      key: event.header.studyInstanceUid || event.header.sopInstanceUid,
      value: JSON.stringify(event),
    });
  }

  /** Queues a message; one request goes out at a time, carrying everything queued while the last was out. */
  private send(topic: string, message: Message): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ topic, message, resolve, reject });
      if (!this.sending) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length) {
        const batch = this.queue;
        this.queue = [];
        const byTopic = new Map<string, Message[]>();
        for (const o of batch) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), o.message]);
        try {
          await this.producer.sendBatch({
            acks: -1,
            topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
          });
          this.down = undefined;
          for (const o of batch) o.resolve();
        } catch (err) {
          this.failed(err as Error);
          const error = new StorageUnavailableError(
            `cannot publish to ${this.describe}: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
          for (const o of batch) o.reject(error);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /**
   * A publish failed: health names Kafka until the cluster answers again, asked every second (so health
   * recovers without traffic, which a load balancer may hold back while health fails).
   */
  private failed(err: Error): void {
    this.down = `${this.describe}: ${err.message}`;
    if (this.probe) return;
    this.probe = setInterval(() => {
      void this.admin.describeCluster().then(
        () => {
          this.down = undefined;
          clearInterval(this.probe);
          this.probe = undefined;
        },
        () => undefined,
      );
    }, 1_000);
    this.probe.unref();
  }

  openReplies(): Promise<string> {
    if (!this.opening) {
      const opening = this.startReplies();
      // A failed start is not kept: the next upload tries again.
      opening.catch(() => {
        if (this.opening === opening) this.opening = undefined;
      });
      this.opening = opening;
    }
    return this.opening;
  }

  private async startReplies(): Promise<string> {
    const address = this.clientId;
    await this.ensureTopic(RESULTS_TOPIC, 1);
    // A group of its own, reading from the end: results sent before this process asked are not its own.
    const consumer = this.kafka.consumer({
      groupId: `sluice-results.${address}`,
      maxWaitTimeInMs: 100,
      sessionTimeout: this.sessionTimeoutMs,
      heartbeatInterval: 1_000,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: RESULTS_TOPIC, fromBeginning: false });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() !== address || !message.value) return;
        const result = JSON.parse(message.value.toString()) as EventResult;
        this.waiting.get(result.id)?.(result);
      },
    });
    await joined;
    this.replies = { address, consumer };
    return address;
  }

  expectResult(id: string, timeoutMs: number): Promise<EventResult | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(id, (result) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(result);
      });
    });
  }

  async sendResult(replyTo: string, result: EventResult): Promise<void> {
    await this.ensureTopic(RESULTS_TOPIC, 1);
    await this.send(RESULTS_TOPIC, { key: replyTo, value: JSON.stringify(result) });
  }

  async consume(
    pipeline: string,
    handle: (event: InstanceEvent) => Promise<void>,
    committed: (events: readonly InstanceEvent[]) => void,
  ): Promise<Consumption> {
    const topic = topicOf(pipeline);
    await this.ensureTopic(topic, this.partitions);
    const consumer = this.kafka.consumer({
      groupId: groupOf(pipeline),
      // NOTES.md: a join takes 5 s with kafkajs's default wait; workers should take new events at once.
      maxWaitTimeInMs: 200,
      sessionTimeout: this.sessionTimeoutMs,
      heartbeatInterval: 1_000,
      retry: { initialRetryTime: 500, retries: 8 },
    });
    this.consumers.add(consumer);
    consumer.on(consumer.events.CRASH, ({ payload }) =>
      log.error(
        { pipeline, err: payload.error, restarting: payload.restart },
        'bus consumer failed; kafkajs restarts it',
      ),
    );
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.partitions,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!batch.messages.length) return;
        const events = batch.messages.map((m) => JSON.parse(m.value!.toString()) as InstanceEvent);
        // One chain per key: a study's events in order, studies side by side.
        const chains = new Map<string, Promise<void>>();
        const beat = setInterval(() => void heartbeat().catch(() => undefined), 1_000);
        try {
          batch.messages.forEach((m, i) => {
            const key = m.key?.toString() ?? '';
            chains.set(
              key,
              (chains.get(key) ?? Promise.resolve()).then(() => handle(events[i])),
            );
          });
          await Promise.all(chains.values());
        } finally {
          clearInterval(beat);
        }
        if (!isRunning() || isStale()) return; // the partition went elsewhere: its new owner does it again
        const last = batch.messages[batch.messages.length - 1].offset;
        resolveOffset(last);
        await consumer.commitOffsets([
          { topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
        ]);
        committed(events);
      },
    });
    return {
      stop: async () => {
        this.consumers.delete(consumer);
        await consumer.disconnect();
      },
    };
  }

  async lag(pipeline: string): Promise<PartitionLag[]> {
    const topic = topicOf(pipeline);
    const [ends, groups] = await Promise.all([
      this.admin.fetchTopicOffsets(topic),
      this.admin.fetchOffsets({ groupId: groupOf(pipeline), topics: [topic] }),
    ]);
    const committed = new Map(
      (groups.find((g) => g.topic === topic)?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
    );
    return ends
      .map((e) => {
        const at = committed.get(e.partition) ?? -1;
        // -1: nothing committed yet, so everything from the start of the log waits.
        const from = at < 0 ? Number(e.low) : at;
        return { partition: e.partition, lag: Math.max(0, Number(e.high) - from) };
      })
      .sort((a, b) => a.partition - b.partition);
  }

  problem(): string | undefined {
    return this.down;
  }

  async close(): Promise<void> {
    clearInterval(this.probe);
    const stops = [...this.consumers].map((c) => c.disconnect().catch(() => undefined));
    this.consumers.clear();
    if (this.replies) stops.push(this.replies.consumer.disconnect().catch(() => undefined));
    await Promise.all(stops);
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }
}
