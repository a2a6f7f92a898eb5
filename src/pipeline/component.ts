/**
 * Components are values: `{ type, summary, config, example, create }`, listed in their kind's index.ts.
 * The zod schema is the contract and the documentation.
 */
import type { Observable, OperatorFunction } from 'rxjs';
import type { z } from 'zod';
import type { Envelope } from './envelope.js';
import type { Origin, SourceType } from './origin.js';
import type { Counters } from './counters.js';
import type { Settler } from './settle.js';
import type { Outcome } from './outcome.js';
import type { EngineServices } from './services.js';
import type { Landing } from './landing.js';
import type { FactContract } from './facts.js';
import type { Announced } from './admission.js';
import type { BlobDraft } from '../storage/blob-store.js';

export type ComponentKind = 'source' | 'operator' | 'sink';

/** What every component gets when it is created. */
export interface ComponentContext {
  readonly pipeline: string;
  /** `sources[0]`, `operators[1]`, … as in the pipeline file. */
  readonly path: string;
  readonly services: EngineServices;
  readonly counters: Counters;
  /** Settles envelopes this component ends (drops, quarantines); see perItem. */
  readonly settler: Settler;
  /** Records how long the component took for one envelope (its stage in StageTimings); see perItem. */
  readonly timed?: (ms: number) => void;
}

/** Operators and sinks may additionally prepare something before the pipeline starts. */
export interface StageContext extends ComponentContext {
  /**
   * For an operator or sink that must prepare something that can fail before it takes envelopes (static
   * series types created in the state store): called from `create` with what resolves once it is ready.
   * The runner waits for it before it opens the sources, and a failure stops the start.
   */
  preparing(ready: Promise<unknown>): void;
}

/** Sources additionally admit files into the pipeline. */
export interface SourceContext extends ComponentContext {
  /**
   * Waits for room in the pipeline (bounded in-flight), then lands nothing itself: the caller has already
   * written the file durably (see Landing). Parses the header, emits the envelope and resolves when it is
   * settled. Invalid files are quarantined here and resolve as `quarantine`.
   */
  ingest(
    emit: (envelope: Envelope) => void,
    landedPath: string,
    origin: Origin,
    received?: {
      /**
       * The object in memory, not written at `landedPath` (small C-STORE datasets): the storage sink
       * writes it once, and the runner writes it to `landedPath` only when it must (quarantine, no sink
       * stored it).
       */
      content?: Buffer;
      /** What the sender said it sends (a C-STORE request's UIDs): a dataset that differs is refused. */
      announced?: Announced;
      /** `content` already being written into the blob store (see `draft` below). */
      draft?: BlobDraft;
    },
  ): Promise<Outcome>;
  /**
   * Starts writing an object into the blob store as it arrives, under the SOP Instance UID its sender
   * announced, when this pipeline stores what it receives; undefined otherwise. The storage sink then only
   * makes it durable (unless an operator rewrote the instance); an unused draft is dropped at settlement.
   */
  draft(sopInstanceUid: string): BlobDraft | undefined;
  /** Resolves when there is room for one more envelope; sources call it before reading more input. */
  waitForRoom(): Promise<void>;
  /** Where the source writes incoming objects (or names where a held one would go) before calling `ingest`. */
  readonly landing: Landing;
  /**
   * For a source that opens something that can fail (binds a port, watches a folder): called as it is
   * subscribed, with what resolves once it is up. The engine's start waits for it and fails with the
   * error, and the source shows as `starting` until then. Other sources are up once subscribed.
   */
  starting(ready: Promise<unknown>): void;
}

interface Base<C> {
  readonly type: string;
  readonly summary: string;
  readonly config: z.ZodType<C>;
  /** A valid config, used by docs, `sluice schema` and the contract tests. */
  readonly example: C;
}

export interface SourceDefinition<C = unknown> extends Base<C> {
  readonly kind: 'source';
  /** How envelopes from this source are labelled (Slicebox source types); listed in `/api/sources`. */
  readonly sourceType?: SourceType;
  create(config: C, ctx: SourceContext): Observable<Envelope>;
}
/** Operators and sinks declare the facts they provide and require (checked by `sluice lint`). */
export interface OperatorDefinition<C = unknown> extends Base<C>, FactContract {
  readonly kind: 'operator';
  create(config: C, ctx: StageContext): OperatorFunction<Envelope, Envelope>;
}
export interface SinkDefinition<C = unknown> extends Base<C>, FactContract {
  readonly kind: 'sink';
  create(config: C, ctx: StageContext): OperatorFunction<Envelope, Envelope>;
}
export type ComponentDefinition = SourceDefinition<any> | OperatorDefinition<any> | SinkDefinition<any>;

export function defineSource<C>(def: Omit<SourceDefinition<C>, 'kind'>): SourceDefinition<C> {
  return { kind: 'source', ...def };
}
export function defineOperator<C>(def: Omit<OperatorDefinition<C>, 'kind'>): OperatorDefinition<C> {
  return { kind: 'operator', ...def };
}
export function defineSink<C>(def: Omit<SinkDefinition<C>, 'kind'>): SinkDefinition<C> {
  return { kind: 'sink', ...def };
}
