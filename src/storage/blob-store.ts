/**
 * The blob store port: where stored DICOM files live, keyed by SOP Instance UID. Adapter: fs-blob-store.ts.
 */
import type { Readable } from 'node:stream';

export interface BlobStore {
  /** Moves a durable file (landing) into the store under `key`, atomically replacing any previous one. */
  putFile(key: string, fromPath: string): Promise<void>;
  /**
   * Writes bytes held in memory (an instance an operator rewrote) under `key`, written once, durable and
   * atomically replacing any previous version, as putFile.
   */
  putBytes(key: string, bytes: Buffer): Promise<void>;
  /** Streams the stored bytes; throws NotFoundError when absent. */
  open(key: string): Promise<{ stream: Readable; size: number }>;
  /** Local path when the store is a file system (for renderers and parsers), else undefined. */
  localPath(key: string): string | undefined;
  exists(key: string): Promise<boolean>;
  /** Idempotent. */
  delete(key: string): Promise<void>;
  /** Every key in the store (for consistency checks at start). */
  keys(): AsyncIterable<string>;
}
