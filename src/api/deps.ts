import type { BlobStore } from '../storage/blob-store.js';
import type { MetadataIndex } from '../storage/metadata-index.js';
import type { Engine } from '../pipeline/engine.js';
import type { UserService } from '../users/service.js';
import type { SeriesTypeService } from '../series-types/service.js';
import type { TagFilterService } from '../tag-filters/service.js';
import type { LogService } from '../log/service.js';
import type { ScuService } from '../forwarding/scus.js';
import type { ForwardingService } from '../forwarding/service.js';
import type { ManagedSourceService } from '../managed-sources/service.js';
import type { BoxService } from '../boxes/service.js';
import type { ExportSetService } from '../export/service.js';
import type { RenderService } from '../render/service.js';
import type { AnonymizationService } from '../anonymization/service.js';
import type { QueryRetrieveService } from '../dimse/qr/service.js';

/** What routes may use. Routes reach the engine through these services, never through a concrete source. */
export interface ApiDeps {
  index: MetadataIndex;
  blobs: BlobStore;
  engine: Engine;
  /** Users, sessions and login throttling over the state store. */
  users: UserService;
  /** Series types (state store) and their re-classification job. */
  seriesTypes: SeriesTypeService;
  /** Tag filters and their associations with sources (state store). */
  tagFilters: TagFilterService;
  /** The log (`/api/log`). */
  log: LogService;
  /** SCUs and sending to them (state store). */
  scus: ScuService;
  /** Forwarding rules and the outbox's transactions (state store). */
  forwarding: ForwardingService;
  /** SCPs, watched directories and import sessions (state store), followed by a running pipeline. */
  managedSources: ManagedSourceService;
  /** Export sets for zip downloads (state store). */
  exportSets: ExportSetService;
  /** De-identification and anonymization keys; the anonymization routes answer 503 without it. */
  anonymization?: AnonymizationService;
  /** Boxes, their transactions and the box protocol's serving side (state store). */
  boxes: BoxService;
  version: string;
  /** The HTTP port bound (the configured one may be 0: chosen at listen), for `/api/system/information`. */
  httpPort?: () => number;
  /** Reverse proxies whose X-Forwarded-For names the client (addresses or CIDR blocks). */
  trustedProxies?: readonly string[];
  /** PNG rendering, image information and thumbnails (worker threads); absent, those routes answer 503. */
  renderer?: RenderService;
  /** The index and stored files as DICOM queries and retrieves see them (DICOMweb under /dicom-web). */
  queryRetrieve: QueryRetrieveService;
  /** Where clients reach this engine (SLUICE_PUBLIC_URL), for the URLs DICOMweb hands out. */
  publicUrl?: string;
}
