import { readFile } from 'node:fs/promises';
import type { Facts } from './facts.js';
import type { Origin } from './origin.js';
import type { DicomHeader } from '../dicom/header.js';
import type { BlobDraft } from '../storage/blob-store.js';

/**
 * One DICOM instance travelling through a pipeline. Immutable: operators return a new envelope.
 * The instance is either the file at `path` in the landing directory, or `content` in memory.
 */
export interface Envelope {
  readonly id: string;
  readonly origin: Origin;
  /**
   * The instance's file in landing, as received. When `content` is set the instance is that instead, and
   * this file may not exist: small C-STORE datasets are only written here if they must be (quarantine).
   */
  readonly path: string;
  readonly size: number;
  /** Header attributes (everything before the pixel data), parsed once at ingress. */
  readonly header: DicomHeader;
  /**
   * The instance in memory, on disk nowhere yet: a small C-STORE dataset as received (the SCP never lands
   * it), or the instance an operator rewrote (filtered, anonymized…). The storage sink writes it once, in
   * place, instead of a landed copy plus a link (a new 512 KiB file costs ~1 ms on this machine's disk).
   */
  readonly content?: Buffer;
  /**
   * `content` as received, already being written into the blob store under its SOP Instance UID (a
   * C-STORE dataset written as its PDVs arrived): the storage sink commits it instead of writing again.
   * Gone once an operator rewrites the instance.
   */
  readonly draft?: BlobDraft;
  /** What operators and sinks established about it so far (stored, indexed, series types…). */
  readonly facts: Facts;
  /**
   * The bus event it came in (a worker's envelope): the same id on every delivery, so that sinks with
   * effects beyond the instance's own rows (the forwarding outbox) do them once per event.
   */
  readonly event?: { readonly id: string };
  /**
   * Handed to the workers (a front end's envelope): the object is durable in the incoming area and the
   * event with the broker, so acknowledging it is safe.
   */
  readonly handedOff?: { readonly blobKey: string };
}

/** The instance's bytes: held in memory, else read from the landed file. */
export function bytesOf(envelope: Envelope): Promise<Buffer> {
  return envelope.content ? Promise.resolve(envelope.content) : readFile(envelope.path);
}

/** The envelope with the instance rewritten in memory. */
export function withContent(envelope: Envelope, bytes: Buffer, header: DicomHeader): Envelope {
  return { ...envelope, content: bytes, size: bytes.length, header, draft: undefined };
}

/** The envelope with more facts established. */
export function withFacts(envelope: Envelope, facts: Facts): Envelope {
  return { ...envelope, facts: { ...envelope.facts, ...facts } };
}
