import type { Readable } from 'node:stream';
import type { StageTimings } from './stage-timings.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { MetadataIndex } from '../storage/metadata-index.js';
import type { StateStore } from '../storage/state-store.js';
import type { Quarantine } from './quarantine.js';
import type { Origin } from './origin.js';
import type { Outcome } from './outcome.js';
import type { EngineConfig } from '../config.js';
import type { SeriesTypeService } from '../series-types/service.js';
import type { TagFilterService } from '../tag-filters/service.js';
import type { LogService } from '../log/service.js';
import type { ForwardingService } from '../forwarding/service.js';
import type { ManagedSourceService } from '../managed-sources/service.js';
import type { AnonymizationService } from '../anonymization/service.js';
import type { BoxService } from '../boxes/service.js';
import type { QueryRetrieveService } from '../dimse/qr/service.js';
import type { EventBus } from '../storage/event-bus.js';

/**
 * Where this process's pipelines hand instances on: `all` runs each pipeline whole; otherwise front ends
 * run the sources and publish to the bus, and workers run the operators and sinks on what the bus brings.
 */
export interface BusRoles {
  readonly bus: EventBus;
  /** Received objects, until the worker that processed them committed (keys: envelope ids). */
  readonly incoming: BlobStore;
  readonly frontend: boolean;
  readonly worker: boolean;
  /** How long a front end waits for the result of an instance whose sender waits for it (uploads). */
  readonly replyTimeoutMs: number;
}

/** Accepts an uploaded body into a pipeline (registered by the `http_upload` source). */
export type UploadHandler = (body: Readable, origin: Origin) => Promise<Outcome>;

/** Shared services handed to components and to the API. */
export interface EngineServices {
  readonly config: EngineConfig;
  readonly index: MetadataIndex;
  readonly blobs: BlobStore;
  /** Whether the state store can be used now (health); the capabilities' services hold the store itself. */
  readonly state: Pick<StateStore, 'problem'>;
  readonly quarantine: Quarantine;
  readonly uploads: UploadRegistry;
  /** Where the time of each instance goes, by stage (GET /api/pipelines/stages). */
  readonly timings: StageTimings;
  /** Series type classification (the `classify_series` sink). */
  readonly seriesTypes: SeriesTypeService;
  /** Managed tag filters per source (the `tag_filter` operator). */
  readonly tagFilters: TagFilterService;
  /** The log of `/api/log`. */
  readonly log: LogService;
  /** Forwarding rules and the outbox (the `forward` and `dicom_forward` sinks). */
  readonly forwarding: ForwardingService;
  /** SCPs, watched directories and import sessions managed through the API (the `managed_sources` source). */
  readonly managedSources: ManagedSourceService;
  /** De-identification and anonymization keys (the `anonymize` and `reverse_anonymize` operators). */
  readonly anonymization: AnonymizationService;
  /** Boxes and their transactions (the `box_incoming` source takes what they receive). */
  readonly boxes: BoxService;
  /** C-FIND, C-MOVE and C-GET for the SCPs that offer them (`dicom_scp`, `managed_sources`). */
  readonly queryRetrieve: QueryRetrieveService;
  /** Set when the pipelines are split across processes over a bus (SLUICE_ROLE other than `all`). */
  readonly split?: BusRoles;
}

export class UploadRegistry {
  private handler: UploadHandler | undefined;
  register(handler: UploadHandler): () => void {
    if (this.handler) throw new Error('only one http_upload source may run at a time');
    this.handler = handler;
    return () => {
      if (this.handler === handler) this.handler = undefined;
    };
  }
  get current(): UploadHandler | undefined {
    return this.handler;
  }
}
