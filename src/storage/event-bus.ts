/**
 * The event bus port: how receiving front ends hand instances to pipeline workers in other processes.
 * Adapter: kafka-bus.ts (`SLUICE_BUS=kafka://host:port,…`). With one process (role `all`, the default)
 * there is no bus: sources feed their pipeline's operators directly.
 *
 * A front end writes each received object to the blob store under an incoming key, publishes an
 * InstanceEvent (keyed by StudyInstanceUID: one study stays in one partition, in order) and acknowledges the
 * sender once the broker has it. A worker takes the events of a pipeline in a consumer group, runs the
 * operators and sinks on each, and only then commits its offset: a worker that dies leaves its events to
 * another, which processes them again (the sinks are idempotent by SOP Instance UID and by event id).
 */
import type { Image } from './metadata-index.js';
import type { Origin } from '../pipeline/origin.js';

/** One received instance, as a front end publishes it. */
export interface InstanceEvent {
  /** The envelope id given at ingress: the same on every delivery of this event. */
  readonly id: string;
  readonly pipeline: string;
  readonly origin: Origin;
  /** The object's bytes, in the blob store's incoming area (see BusIncoming) under this key. */
  readonly blobKey: string;
  readonly size: number;
  /**
   * The header parsed at the front end, without the pixel data: the dataset's attributes in the DICOM JSON
   * model's shape (`{ "00100010": { vr, Value } }`; binary values left out), for consumers of the topic. A
   * worker parses the object's own bytes again.
   */
  readonly dataset: Record<string, { vr: string; Value?: unknown[] }>;
  /** The attributes that place the instance. */
  readonly header: {
    readonly sopInstanceUid: string;
    readonly sopClassUid: string;
    readonly transferSyntaxUid: string;
    readonly studyInstanceUid: string;
    readonly seriesInstanceUid: string;
    readonly modality: string;
  };
  /** Where to send the result, when the sender waits for it (an HTTP upload); see EventBus.expectResult. */
  readonly replyTo?: string;
  /** When the front end published it (ms since the epoch). */
  readonly publishedAt: number;
}

/** How a worker ended an event, sent back to a front end that waits for it. */
export interface EventResult {
  readonly id: string;
  readonly kind: 'ack' | 'drop' | 'quarantine';
  readonly indexed?: { readonly image: Image; readonly created: boolean };
  readonly reason?: string;
  readonly error?: { readonly code: string; readonly message: string; readonly status: number };
  readonly quarantineId?: string;
}

/** The consumer lag of one partition of a pipeline's topic (events published, not yet committed). */
export interface PartitionLag {
  readonly partition: number;
  readonly lag: number;
}

export interface Consumption {
  /** Stops taking events; events in flight finish (their offsets are committed) first. */
  stop(): Promise<void>;
}

export interface EventBus {
  /** `kafka://…` with the brokers, for messages and /api/system/information. */
  readonly describe: string;
  /** Resolves once every in-sync replica has the event (acks=all, idempotent producer). */
  publish(event: InstanceEvent): Promise<void>;
  /**
   * The address results for this process go to (`replyTo`); resolves once this process receives them.
   * Call once before publishing events that wait for their result.
   */
  openReplies(): Promise<string>;
  /**
   * The result of event `id`, or undefined when none came within `timeoutMs`. Asked before publishing, so
   * a result that comes quickly is not missed.
   */
  expectResult(id: string, timeoutMs: number): Promise<EventResult | undefined>;
  /** Sends a worker's result to the front end that waits for it. */
  sendResult(replyTo: string, result: EventResult): Promise<void>;
  /**
   * Takes the events of a pipeline, as one member of the pipeline's consumer group. `handle` resolves when
   * the event's sinks are done (whatever the outcome); events of one key are handled one after the other,
   * and offsets are committed only up to events whose `handle` resolved. `committed` is told the events
   * whose offsets are committed (their incoming objects can go).
   */
  consume(
    pipeline: string,
    handle: (event: InstanceEvent) => Promise<void>,
    committed: (events: readonly InstanceEvent[]) => void,
  ): Promise<Consumption>;
  /** The consumer group's lag per partition of the pipeline's topic. */
  lag(pipeline: string): Promise<PartitionLag[]>;
  /** Why the bus cannot be used now, or undefined. */
  problem(): string | undefined;
  close(): Promise<void>;
}

/** The topic of a pipeline's events (Kafka topic names allow letters, digits, `.`, `_` and `-`). */
export function topicOf(pipeline: string): string {
  return `sluice.instances.${pipeline.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The consumer group of a pipeline's workers. */
export function groupOf(pipeline: string): string {
  return `sluice-worker.${pipeline.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}
