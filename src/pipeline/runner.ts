/**
 * Runs one pipeline: sources → operators → sinks as an RxJS chain. Every envelope is settled exactly
 * once; the number in flight is bounded by `max_in_flight`, and sources wait for room before reading on.
 */
import { merge, Subject, type Subscription, type Observable, type OperatorFunction } from 'rxjs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ComponentContext, SourceContext, StageContext } from './component.js';
import { Counters, type CounterValues } from './counters.js';
import type { Envelope } from './envelope.js';
import type { Origin } from './origin.js';
import { asSluiceError, SluiceError } from '../errors.js';
import { parseHeader } from '../dicom/header.js';
import { readHeader } from '../storage/read-header.js';
import { Landing } from './landing.js';
import type { PipelineSpec } from './pipeline-file.js';
import type { EngineServices } from './services.js';
import type { Settler } from './settle.js';
import type { Outcome } from './outcome.js';
import { stat } from 'node:fs/promises';
import { admit, type Announced } from './admission.js';
import { now } from './stage-timings.js';
import type { BlobDraft } from '../storage/blob-store.js';
import { supervise, SourceHealth, type SourceState } from './supervise.js';
import { logger } from '../ops/logger.js';
import { handOff, resultOf } from './hand-off.js';
import type { Consumption, InstanceEvent, PartitionLag } from '../storage/event-bus.js';
import { NotFoundError } from '../errors.js';
import { readStored } from '../storage/stored-object.js';

const log = logger('pipeline');

export interface ComponentStatus {
  path: string;
  kind: string;
  type: string;
  counters: CounterValues;
  /** Sources: running, starting (opening its port or folder) or failed (and being opened again). */
  state?: SourceState;
  /** Sources: why it failed last, while it is failed. */
  error?: string;
}

export interface PipelineStatus {
  name: string;
  file: string;
  running: boolean;
  /** Every source is up. */
  healthy: boolean;
  inFlight: number;
  maxInFlight: number;
  acknowledged: number;
  dropped: number;
  quarantined: number;
  components: ComponentStatus[];
  /** When the pipeline is split over a bus: what this process runs of it, and the workers' lag. */
  bus?: BusStatus;
}

export interface BusStatus {
  /** Runs the sources and publishes what they receive. */
  frontend: boolean;
  /** Takes the pipeline's events and runs its operators and sinks. */
  worker: boolean;
  /** Events published here, and events taken from the bus and settled here. */
  published: number;
  consumed: number;
  /** The workers' consumer lag per partition, as last measured (every 2 s), and when. */
  lag?: PartitionLag[];
  lagAt?: string;
}

interface Pending {
  landedPath: string;
  /** The object when it was held in memory, not written at `landedPath` (see Landing.hold). */
  held?: Buffer;
  origin: Origin;
  resolve: (outcome: Outcome) => void;
  /** When the envelope was emitted (performance.now()), for the `pipeline` stage. */
  emittedAt: number;
  /** Bytes already written into the blob store for it; dropped at settlement unless the storage sink used them. */
  draft?: BlobDraft;
}

export class PipelineRunner implements Settler {
  readonly landing: Landing;
  private readonly pending = new Map<string, Pending>();
  private readonly waiters: Array<() => void> = [];
  private readonly components: Array<{
    path: string;
    kind: string;
    type: string;
    counters: Counters;
    health?: SourceHealth;
  }> = [];
  private readonly recovered = new Subject<Envelope>();
  /** Envelopes of events the bus delivered (a worker). */
  private readonly delivered = new Subject<Envelope>();
  private subscription: Subscription | undefined;
  private intake: Subscription | undefined;
  private consumption: Consumption | undefined;
  private readonly busStatus: BusStatus | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private acknowledged = 0;
  private dropped = 0;
  private quarantined = 0;
  /** Why the whole pipeline stopped (a bug in an operator or sink), if it did. */
  private failure: string | undefined;

  constructor(
    readonly spec: PipelineSpec,
    private readonly services: EngineServices,
  ) {
    this.landing = new Landing(join(services.config.dataDir, 'landing', spec.name));
    const split = services.split;
    if (split) this.busStatus = { frontend: split.frontend, worker: split.worker, published: 0, consumed: 0 };
  }

  get name(): string {
    return this.spec.name;
  }

  /** Builds the chain, subscribes (opening the sources) and re-processes what a crash left in landing. */
  async start(): Promise<void> {
    const ctxFor = (path: string, kind: string, type: string): ComponentContext => {
      const counters = new Counters();
      this.components.push({ path, kind, type, counters });
      return {
        pipeline: this.spec.name,
        path,
        services: this.services,
        counters,
        settler: this,
        timed: kind === 'source' ? undefined : (ms) => this.services.timings?.record(type, ms),
      };
    };
    const healths: SourceHealth[] = [];
    const split = this.services.split;
    const stores = this.spec.sinks.some((entry) => entry.def.type === 'storage');
    const runsSources = !split || split.frontend;
    const runsStages = !split || split.worker;
    const sources: Observable<Envelope>[] = (runsSources ? this.spec.sources : []).map((entry) => {
      const base = ctxFor(entry.path, entry.kind, entry.def.type);
      const health = new SourceHealth();
      healths.push(health);
      this.components[this.components.length - 1].health = health;
      const ctx: SourceContext = {
        ...base,
        ingest: (emit, landedPath, origin, received) => this.ingest(base, emit, landedPath, origin, received),
        waitForRoom: () => this.waitForRoom(),
        landing: this.landing,
        starting: (ready) => health.starting(ready),
        draft: (key) => {
          // Split: every received object goes to the incoming area first, under a name of its own.
          if (split) return split.incoming.draft(randomUUID());
          if (!stores) return undefined;
          try {
            return this.services.blobs.draft(key);
          } catch {
            return undefined; // a key the store refuses: the instance will be refused or stored the slow way
          }
        },
      };
      const create = (entry.def as { create: (c: unknown, ctx: SourceContext) => Observable<Envelope> })
        .create;
      return supervise(
        () => create(entry.config, ctx),
        health,
        (err, retryInMs) => {
          base.counters.errors++;
          log.error(
            { pipeline: this.spec.name, component: entry.path, type: entry.def.type, err, retryInMs },
            'source failed; opening it again',
          );
        },
      );
    });
    // Split over a bus, sources feed the hand-off to the bus and workers' events feed the operators; else
    // sources feed the operators directly. Files left in landing go where this process's part begins.
    const stages: Array<OperatorFunction<Envelope, Envelope>> = [];
    const preparations: Promise<unknown>[] = [];
    if (runsStages)
      for (const entry of [...this.spec.operators, ...this.spec.sinks]) {
        const ctx: StageContext = {
          ...ctxFor(entry.path, entry.kind, entry.def.type),
          preparing: (ready) => preparations.push(ready),
        };
        stages.push((entry.def as any).create(entry.config, ctx));
      }
    // An operator or sink that cannot prepare (its store fails) stops the start before a source opens.
    await Promise.all(preparations);
    const settleAll = {
      next: (envelope: Envelope) => this.settle(envelope, { kind: 'ack', envelope }),
      // Operators and sinks settle failures per envelope; an error here is a bug, and it ends the pipeline.
      error: (err: unknown) => {
        this.failure = (err as Error).message;
        log.error({ pipeline: this.spec.name, err }, 'pipeline stopped');
      },
    };
    const through = (input: Observable<Envelope>) =>
      stages.reduce<Observable<Envelope>>((s, stage) => s.pipe(stage), input);
    if (split) {
      if (runsSources || !runsStages) {
        const published = handOff(ctxFor('bus', 'sink', 'publish'), this.spec.name, split, () => {
          this.busStatus!.published++;
        });
        const intakeFrom = runsStages ? sources : [this.recovered, ...sources];
        this.intake = merge(...intakeFrom)
          .pipe(published)
          .subscribe(settleAll);
      }
      if (runsStages) this.subscription = through(merge(this.recovered, this.delivered)).subscribe(settleAll);
      else this.subscription = this.intake;
    } else this.subscription = through(merge(this.recovered, ...sources)).subscribe(settleAll);
    // A source that cannot open at start (a port taken, a folder that cannot be created) stops the start.
    const failed = await Promise.allSettled(healths.map((h) => h.firstUp));
    const index = failed.findIndex((r) => r.status === 'rejected');
    if (index >= 0) {
      const entry = this.spec.sources[index];
      const reason = ((failed[index] as PromiseRejectedResult).reason as Error).message;
      throw new SluiceError(
        'PIPELINE.SOURCE_FAILED',
        `pipeline ${this.spec.name}: ${entry.path} (${entry.def.type}) cannot start: ${reason}`,
        503,
      );
    }
    await this.recover();
    if (split && runsStages) await this.consumeBus(split);
    if (split) this.watchLag(split);
  }

  /** Takes this pipeline's events from the bus, as one of its workers. */
  private async consumeBus(split: NonNullable<EngineServices['split']>): Promise<void> {
    const ctx: ComponentContext = {
      pipeline: this.spec.name,
      path: 'bus',
      services: this.services,
      counters: new Counters(),
      settler: this,
    };
    this.components.push({ path: 'bus', kind: 'source', type: 'consume', counters: ctx.counters });
    this.consumption = await split.bus.consume(
      this.spec.name,
      (event) => this.deliver(ctx, split, event),
      // Committed: no member will be given these events again, so their received objects can go.
      (events) => {
        for (const event of events)
          void split.incoming
            .delete(event.blobKey)
            .catch((err: Error) =>
              log.warn({ pipeline: this.spec.name, event: event.id, err }, 'cannot remove incoming object'),
            );
      },
    );
  }

  /**
   * One event from the bus through the operators and sinks. Resolves once it is settled (its offset may be
   * committed); rejects, so that the bus delivers it again later, when a store it needs is unavailable.
   */
  private async deliver(
    ctx: ComponentContext,
    split: NonNullable<EngineServices['split']>,
    event: InstanceEvent,
  ): Promise<void> {
    let content: Buffer;
    try {
      content = await readStored(split.incoming, event.blobKey);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      // Only a committed event's object is removed: this one was processed and committed already.
      log.warn({ pipeline: this.spec.name, event: event.id }, 'event delivered again after its object went');
      return;
    }
    const landed = this.landing.hold(event.origin);
    const outcome = await this.ingest(ctx, (e) => this.delivered.next(e), landed.path, event.origin, {
      content,
      id: event.id,
    });
    this.busStatus!.consumed++;
    if (outcome.kind === 'quarantine' && outcome.error.httpStatus === 503 && !outcome.quarantineId)
      throw outcome.error;
    if (event.replyTo) await split.bus.sendResult(event.replyTo, resultOf(event.id, outcome));
  }

  /** Measures the workers' lag every 2 s (for /api/pipelines and /metrics). */
  private watchLag(split: NonNullable<EngineServices['split']>): void {
    const measure = () =>
      split.bus.lag(this.spec.name).then(
        (lag) => {
          this.busStatus!.lag = lag;
          this.busStatus!.lagAt = new Date().toISOString();
        },
        () => undefined,
      );
    void measure();
    this.lagTimer = setInterval(() => void measure(), 2_000);
    this.lagTimer.unref();
  }

  /** Files left in landing by a crash go through the pipeline again (ingest is idempotent). */
  private async recover(): Promise<void> {
    const leftovers = await this.landing.recover();
    if (!leftovers.length) return;
    const ctx = this.components[0];
    const base: ComponentContext = {
      pipeline: this.spec.name,
      path: 'recovery',
      services: this.services,
      counters: ctx.counters,
      settler: this,
    };
    log.info({ pipeline: this.spec.name, files: leftovers.length }, 're-processing files left in landing');
    await Promise.all(
      leftovers.map((file) =>
        this.ingest(base, (e) => this.recovered.next(e), file.path, {
          ...file.ref,
          sourceName: 'recovered',
          detail: 'left in landing by an interrupted run',
        }),
      ),
    );
  }

  /** Stops the pipeline; answers whether instances were still in flight (cut off, to be sent again). */
  async stop(): Promise<boolean> {
    clearInterval(this.lagTimer);
    // A worker finishes what it took (its offsets are committed) before the stages go.
    await this.consumption?.stop().catch((err: Error) => log.warn({ err }, 'stopping the bus consumer'));
    this.consumption = undefined;
    const interrupted = this.inFlight > 0;
    this.intake?.unsubscribe();
    this.intake = undefined;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    // Envelopes still in flight keep their landed file for the next start; their senders get a failure.
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      this.release();
      p.resolve({
        kind: 'quarantine',
        error: new SluiceError('ENGINE.STOPPING', 'engine is stopping', 503),
      });
    }
    return interrupted;
  }

  waitForRoom(): Promise<void> {
    if (this.inFlight < this.spec.maxInFlight) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async acquire(): Promise<void> {
    while (this.inFlight >= this.spec.maxInFlight) await new Promise<void>((r) => this.waiters.push(r));
    this.inFlight++;
  }

  /** Frees a slot and wakes every waiter: `acquire` re-checks in a loop, `waitForRoom` callers may not ingest. */
  private release(): void {
    this.inFlight--;
    for (const wake of this.waiters.splice(0)) wake();
  }

  private async ingest(
    ctx: ComponentContext,
    emit: (envelope: Envelope) => void,
    landedPath: string,
    origin: Origin,
    received: { content?: Buffer; announced?: Announced; draft?: BlobDraft; id?: string } = {},
  ): Promise<Outcome> {
    const { content, announced, draft } = received;
    let t = now();
    await this.acquire();
    t = this.mark('queue', t);
    ctx.counters.received++;
    let envelope: Envelope;
    try {
      const [header, size] = content
        ? [parseHeader(content), content.length]
        : await Promise.all([readHeader(landedPath), stat(landedPath).then((s) => s.size)]);
      admit(header, announced);
      t = this.mark('parse', t);
      envelope = {
        id: received.id ?? randomUUID(),
        origin,
        path: landedPath,
        size,
        header,
        content,
        draft,
        facts: {},
        ...(received.id ? { event: { id: received.id } } : {}),
      };
    } catch (err) {
      const error = asSluiceError(err);
      ctx.counters.quarantined++;
      ctx.counters.errors++;
      this.quarantined++;
      void draft?.discard();
      try {
        if (content) await this.landing.write(landedPath, content);
        const record = await this.services.quarantine.put(landedPath, error, {
          pipeline: this.spec.name,
          component: ctx.path,
          source: { sourceType: origin.sourceType, sourceId: origin.sourceId, sourceName: origin.sourceName },
          detail: origin.detail,
          size:
            content?.length ??
            (await stat(landedPath)
              .then((st) => st.size)
              .catch(() => 0)),
        });
        return { kind: 'quarantine', error, quarantineId: record.id };
      } finally {
        this.release();
      }
    }
    const outcome = new Promise<Outcome>((resolve) =>
      this.pending.set(envelope.id, { landedPath, held: content, origin, resolve, emittedAt: t, draft }),
    );
    ctx.counters.emitted++;
    emit(envelope);
    return outcome;
  }

  /** Ends an envelope: exactly once; later calls for the same envelope are ignored. */
  settle(envelope: Envelope, outcome: Outcome, ctx?: ComponentContext): void {
    const p = this.pending.get(envelope.id);
    if (!p) return;
    this.pending.delete(envelope.id);
    const t = this.mark('pipeline', p.emittedAt);
    void this.conclude(p, envelope, outcome, ctx).finally(() => this.mark('settle', t));
  }

  private async conclude(
    p: Pending,
    envelope: Envelope,
    outcome: Outcome,
    ctx?: ComponentContext,
  ): Promise<void> {
    // Unless the storage sink committed it, the draft of the received bytes goes (a no-op once committed).
    void p.draft?.discard();
    let landed = !p.held;
    try {
      // Quarantined by the worker that ran the stages (its record there), or not at all: a worker whose
      // store is unavailable leaves the event to be delivered again.
      const elsewhere =
        outcome.kind === 'quarantine' &&
        (outcome.quarantineId !== undefined ||
          (!!this.services.split?.worker && outcome.error.httpStatus === 503));
      if (elsewhere) {
        this.quarantined++;
        this.release();
        p.resolve(outcome);
        if (landed) await this.landing.release(p.landedPath).catch(() => undefined);
        return;
      }
      if (outcome.kind === 'quarantine') {
        this.quarantined++;
        if (p.held) await this.landing.write(p.landedPath, p.held);
        const record = await this.services.quarantine.put(p.landedPath, outcome.error, {
          pipeline: this.spec.name,
          component: ctx?.path ?? 'unknown',
          source: {
            sourceType: p.origin.sourceType,
            sourceId: p.origin.sourceId,
            sourceName: p.origin.sourceName,
          },
          detail: p.origin.detail,
          sopInstanceUID: envelope.header.sopInstanceUid,
          envelopeId: envelope.id,
          size: envelope.size,
        });
        this.release();
        p.resolve({ ...outcome, quarantineId: record.id });
        return;
      }
      if (outcome.kind === 'drop') this.dropped++;
      else {
        // Acknowledged means durable: if no sink stored a durable copy, the landed file becomes it.
        if (!outcome.envelope.facts.stored && !outcome.envelope.handedOff) {
          if (p.held) await this.landing.write(p.landedPath, p.held);
          landed = true;
          await this.landing.makeDurable(p.landedPath);
        }
        this.acknowledged++;
      }
      // The sender may be answered before the landed copy is removed: a crash in between only means the
      // (idempotent) ingest runs once more at start.
      this.release();
      p.resolve(outcome);
      // An instance held in memory and stored was never landed: no file to remove.
      if (!landed) return;
      await this.landing
        .release(p.landedPath)
        .catch((err: Error) =>
          log.warn({ pipeline: this.spec.name, envelope: envelope.id, err }, 'cannot remove landed file'),
        );
    } catch (err) {
      // Quarantining itself failed: the landed file stays in landing and is retried at the next start.
      this.release();
      p.resolve({ kind: 'quarantine', envelope, error: asSluiceError(err) });
    }
  }

  /** Records a stage that began at `since`; answers now, where the next stage begins. */
  private mark(stage: string, since: number): number {
    const t = now();
    this.services.timings?.record(stage, t - since);
    return t;
  }

  status(): PipelineStatus {
    const sources = this.components.filter((c) => c.health);
    return {
      name: this.spec.name,
      file: this.spec.file,
      running: this.subscription !== undefined && this.failure === undefined,
      healthy: this.failure === undefined && sources.every((c) => c.health!.state === 'running'),
      inFlight: this.inFlight,
      maxInFlight: this.spec.maxInFlight,
      acknowledged: this.acknowledged,
      dropped: this.dropped,
      quarantined: this.quarantined,
      ...(this.busStatus ? { bus: { ...this.busStatus } } : {}),
      components: this.components
        .filter((c) => c.path !== 'recovery')
        .map((c) => ({
          path: c.path,
          kind: c.kind,
          type: c.type,
          counters: c.counters.snapshot(),
          ...(c.health
            ? { state: c.health.state, ...(c.health.error ? { error: c.health.error } : {}) }
            : {}),
        })),
    };
  }
}
