/**
 * SCUs (Slicebox's `/api/scus`): remote C-STORE SCPs, and sending stored images to them. The DIMSE work is
 * an adapter behind the DicomSender port (src/dimse/scu/dimse-sender.ts), wired in main.ts.
 */
import type { BlobStore } from '../storage/blob-store.js';
import type { Destination, ScuData, ScuStore } from './store.js';
import type { MetadataIndex } from '../storage/metadata-index.js';
import { storedObject, type StoredObject } from '../storage/stored-object.js';
import { NotFoundError, SluiceError } from '../errors.js';
import type { LogService } from '../log/service.js';

/** A remote SCP as the sender needs it. */
export interface DicomPeer {
  /** For messages: the SCU's name or the static destination's name. */
  name: string;
  aeTitle: string;
  host: string;
  port: number;
}

export interface SendResult {
  sopInstanceUid: string;
  /** The peer has the instance (success or a warning status). */
  stored: boolean;
  /** DIMSE status, or -1 when the instance could not be offered (no accepted presentation context). */
  status: number;
  comment?: string;
}

/** Sends stored Part-10 files to a peer (port). */
export interface DicomSender {
  /**
   * Sends the files as stored, over as few associations as possible, reporting each result as it arrives.
   * Rejects with a SluiceError (HTTP 502) when the peer cannot be reached or refuses the association.
   */
  send(
    peer: DicomPeer,
    files: StoredObject[],
    onResult?: (result: SendResult) => void,
  ): Promise<SendResult[]>;
}

export const describePeer = (p: DicomPeer) => `"${p.name}" (${p.aeTitle}@${p.host}:${p.port})`;

/** A peer answered with failures: 502, naming the first few instances and their statuses. */
export function failedSendError(peer: DicomPeer, total: number, failures: SendResult[]): SluiceError {
  const shown = failures
    .slice(0, 3)
    .map(
      (f) =>
        `${f.sopInstanceUid}: ${f.status < 0 ? 'not sent' : `status 0x${f.status.toString(16).padStart(4, '0')}`}${f.comment ? ` (${f.comment})` : ''}`,
    );
  const more = failures.length > 3 ? `; and ${failures.length - 3} more` : '';
  return new SluiceError(
    'SCU.STORE_FAILED',
    `${describePeer(peer)} did not store ${failures.length} of ${total} instances: ${shown.join('; ')}${more}`,
    502,
  );
}

export interface ScuServiceDeps {
  index: MetadataIndex;
  blobs: BlobStore;
  sender: DicomSender;
  log: LogService;
  /** Called after an SCU is deleted (forwarding rules to it go with it). */
  onDeleted?: (id: number) => void | Promise<void>;
}

export const scuPeer = (scu: ScuData): DicomPeer => ({
  name: scu.name,
  aeTitle: scu.aeTitle,
  host: scu.host,
  port: scu.port,
});

export const scuDestination = (scu: ScuData): Destination => ({
  destinationType: 'scu',
  destinationName: scu.name,
  destinationId: scu.id,
});

export class ScuService {
  constructor(
    private readonly store: ScuStore,
    private readonly deps: ScuServiceDeps,
  ) {}

  async list(startIndex: number, count: number): Promise<ScuData[]> {
    return await this.store.listScus(startIndex, count);
  }

  async get(id: number): Promise<ScuData | undefined> {
    return await this.store.scu(id);
  }

  async create(scu: Omit<ScuData, 'id'>): Promise<ScuData> {
    return await this.store.insertScu(scu);
  }

  /** Idempotent. */
  async delete(id: number): Promise<void> {
    if (await this.store.deleteScu(id)) await this.deps.onDeleted?.(id);
  }

  /** The SCU with this AE title as a peer (a C-MOVE destination); the first when several share it. */
  async peerByAeTitle(aeTitle: string): Promise<DicomPeer | undefined> {
    const scu = (await this.store.listScus(0, Number.MAX_SAFE_INTEGER)).find(
      (s) => s.aeTitle.trim() === aeTitle.trim(),
    );
    return scu ? scuPeer(scu) : undefined;
  }

  /** Every SCU as a Slicebox `Destination`. */
  async destinations(): Promise<Destination[]> {
    return (await this.store.listScus(0, Number.MAX_SAFE_INTEGER)).map(scuDestination);
  }

  /** Stored objects of images, in order; 404 for an unknown image or a missing file. */
  async storedObjects(imageIds: number[]): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    for (const id of imageIds) {
      const image = await this.deps.index.image(id);
      if (!image) throw new NotFoundError(`image ${id}`);
      const key = image.sopInstanceUID.value;
      if (!(await this.deps.blobs.exists(key))) throw new NotFoundError(`stored file of image ${id}`);
      objects.push(storedObject(this.deps.blobs, key));
    }
    return objects;
  }

  /**
   * C-STORE of stored images to the SCU (Slicebox's `POST /api/scus/{id}/send`): resolves when the peer
   * has every one; 404 for an unknown SCU or image; 502 when the peer is unreachable, refuses, or fails any.
   */
  async send(id: number, imageIds: number[]): Promise<void> {
    const scu = await this.store.scu(id);
    if (!scu) throw new NotFoundError(`SCU ${id}`);
    const peer = scuPeer(scu);
    const paths = await this.storedObjects([...new Set(imageIds)]);
    if (!paths.length) return;
    const { log } = this.deps;
    let results;
    try {
      results = await this.deps.sender.send(peer, paths);
    } catch (err) {
      await log.write({
        subject: 'SCU',
        type: 'ERROR',
        message: `Sending ${paths.length} images to SCU ${describePeer(peer)} failed: ${(err as Error).message}`,
      });
      throw err;
    }
    const failures = results.filter((r) => !r.stored);
    if (failures.length) {
      const error = failedSendError(peer, results.length, failures);
      await log.write({ subject: 'SCU', type: 'ERROR', message: error.message });
      throw error;
    }
    await log.write({
      subject: 'SCU',
      type: 'INFO',
      message: `Sent ${results.length} images to SCU ${describePeer(peer)}`,
    });
  }
}
