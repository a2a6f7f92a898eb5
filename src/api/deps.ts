import type { BlobStore, MetadataIndex } from '../core/ports.js';
import type { Engine } from '../core/engine.js';
import type { UserService } from '../core/users.js';
import type { SeriesTypeService } from '../core/series-type-service.js';
import type { TagFilterService } from '../core/tag-filters.js';
import type { ManagedSourceService } from '../core/managed-sources.js';
import type { AnonymizationService } from '../core/anonymization.js';
import type { BoxService } from '../core/boxes/service.js';

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
  /** SCPs, watched directories and import sessions (state store), followed by a running pipeline. */
  managedSources: ManagedSourceService;
  /** De-identification and anonymization keys; the anonymization routes answer 503 without it. */
  anonymization?: AnonymizationService;
  /** Boxes, their transactions and the box protocol's serving side (state store). */
  boxes: BoxService;
  version: string;
}
