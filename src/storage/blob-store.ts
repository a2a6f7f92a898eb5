/**
 * The blob store port: where stored DICOM files live, keyed by SOP Instance UID. Adapters: fs-blob-store.ts
 * (the embedded default), s3-blob-store.ts (`SLUICE_BLOBS=s3://bucket/prefix`). Readers that need the bytes
 * go through `open`, or through stored-object.ts, which uses the local file when there is one.
 */
import type { Readable } from 'node:stream';

/**
 * An object being written into the store while its bytes still arrive (a C-STORE dataset as its PDVs
 * come in), so that storing it later only has to make it durable. Nothing is visible under the key until
 * `commit`.
 */
export interface BlobDraft {
  readonly key: string;
  /** Appends bytes, in order; they are written in the background. */
  write(bytes: Buffer): void;
  /** Makes what was written the stored object under `key`: durable and atomic; rejects if a write failed. */
  commit(): Promise<void>;
  /** Drops the draft; idempotent, and a no-op after commit. */
  discard(): Promise<void>;
}

export interface BlobStore {
  /** Starts writing an object under `key` ahead of storing it (see BlobDraft). */
  draft(key: string): BlobDraft;
  /** Moves a durable file (landing) into the store under `key`, atomically replacing any previous one. */
  putFile(key: string, fromPath: string): Promise<void>;
  /**
   * Writes bytes held in memory (an instance an operator rewrote) under `key`, written once, durable and
   * atomically replacing any previous version, as putFile.
   */
  putBytes(key: string, bytes: Buffer): Promise<void>;
  /** Streams the stored bytes; throws NotFoundError when absent. */
  open(key: string): Promise<{ stream: Readable; size: number }>;
  /**
   * Local path when the store is a file system (a shortcut for renderers and parsers), else undefined: every
   * reader must then work through `open` (stored-object.ts does both).
   */
  localPath(key: string): string | undefined;
  /** Size and last modification of the stored object; undefined when absent. */
  stat(key: string): Promise<{ size: number; modifiedMs: number } | undefined>;
  exists(key: string): Promise<boolean>;
  /** Idempotent. */
  delete(key: string): Promise<void>;
  /** Every key in the store (for consistency checks at start). */
  keys(): AsyncIterable<string>;
  /** Why the store cannot be used now (its service unreachable), for health and readiness; else undefined. */
  problem(): string | undefined;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
