import type { BlobStore, MetadataIndex } from '../core/ports.js';
import type { Engine } from '../core/engine.js';

/** What routes may use. Routes reach the engine through these services, never through a concrete source. */
export interface ApiDeps {
  index: MetadataIndex;
  blobs: BlobStore;
  engine: Engine;
  version: string;
  /** Superuser credentials checked by Basic auth until users arrive (issue 3). */
  auth: { user: string; password: string };
}
