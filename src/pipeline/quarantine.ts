/**
 * Quarantine: objects that could not be parsed or were rejected, kept with a small JSON record
 * (code, component, time, source; never patient data) so they can be inspected and re-queued.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, copyFile, unlink, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { SourceRef } from './origin.js';
import type { SluiceError } from '../errors.js';
import { fsyncDir, fsyncFile } from './landing.js';
import type { LogService } from '../log/service.js';
import type { BlobStore } from '../storage/blob-store.js';
import { readStored } from '../storage/stored-object.js';

export interface QuarantineRecord {
  id: string;
  code: string;
  message: string;
  pipeline: string;
  component: string;
  source: SourceRef & { sourceName: string };
  /** Original file name or calling AE: no patient data. */
  detail?: string;
  sopInstanceUID?: string;
  envelopeId?: string;
  size: number;
  quarantinedAt: string;
}

/**
 * Kept in a folder of the data directory; or, when processes share the work (SLUICE_ROLE), in the blob
 * store's quarantine area (`shared`: the object under its id, the record under `<id>.record`), so that what
 * a worker quarantined is listed, fetched and requeued through any process's API.
 */
export class Quarantine {
  private ready: Promise<void>;
  constructor(
    readonly dir: string,
    /** Where ingest failures are also reported (`/api/log`, subject `Ingest`). */
    private readonly log?: LogService,
    private readonly shared?: BlobStore,
  ) {
    this.ready = mkdir(dir, { recursive: true }).then(() => undefined);
  }

  /** Moves (or copies, when `keepOriginal`) the file into quarantine and writes its record. */
  async put(
    path: string | undefined,
    error: SluiceError,
    info: Omit<QuarantineRecord, 'id' | 'code' | 'message' | 'quarantinedAt' | 'size'> & { size?: number },
    keepOriginal = false,
  ): Promise<QuarantineRecord> {
    await this.ready;
    const id = randomUUID();
    const record: QuarantineRecord = {
      id,
      code: error.code,
      message: error.message,
      quarantinedAt: new Date().toISOString(),
      size: info.size ?? 0,
      ...info,
    };
    if (path) {
      const target = join(this.dir, `${id}.dcm`);
      if (keepOriginal) await copyFile(path, target);
      else
        await rename(path, target).catch(async () => {
          await copyFile(path, target);
          await unlink(path);
        });
    }
    await writeFile(join(this.dir, `${id}.json`), JSON.stringify(record, null, 2));
    // Durable before anyone acts on it (a watched folder deletes its original once quarantined).
    if (path) await fsyncFile(join(this.dir, `${id}.dcm`));
    await fsyncFile(join(this.dir, `${id}.json`));
    await fsyncDir(this.dir);
    if (this.shared) await this.share(id, path !== undefined);
    await this.log?.write({
      subject: 'Ingest',
      type: 'WARN',
      message: `Quarantined ${record.sopInstanceUID ? `SOP instance ${record.sopInstanceUID}` : 'an object'} from ${record.source.sourceType} ${record.source.sourceId} (pipeline ${record.pipeline}, ${record.component}): ${record.code}: ${record.message}; quarantine id ${id}`,
    });
    return record;
  }

  /** Moves a record (and its object) from the folder to the shared area: durable there, then gone here. */
  private async share(id: string, withObject: boolean): Promise<void> {
    const shared = this.shared!;
    if (withObject) await shared.putFile(id, join(this.dir, `${id}.dcm`));
    await shared.putBytes(`${id}.record`, await readFile(join(this.dir, `${id}.json`)));
    await unlink(join(this.dir, `${id}.json`));
    if (withObject) await unlink(join(this.dir, `${id}.dcm`)).catch(() => undefined);
  }

  async list(): Promise<QuarantineRecord[]> {
    await this.ready;
    if (this.shared) {
      const records: QuarantineRecord[] = [];
      for await (const key of this.shared.keys())
        if (key.endsWith('.record')) {
          const record = await this.sharedRecord(key.slice(0, -'.record'.length));
          if (record) records.push(record);
        }
      return records.sort((a, b) => b.quarantinedAt.localeCompare(a.quarantinedAt));
    }
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json'));
    const records = await Promise.all(
      names.map(async (n) => JSON.parse(await readFile(join(this.dir, n), 'utf8')) as QuarantineRecord),
    );
    return records.sort((a, b) => b.quarantinedAt.localeCompare(a.quarantinedAt));
  }

  private async sharedRecord(id: string): Promise<QuarantineRecord | undefined> {
    try {
      return JSON.parse(
        (await readStored(this.shared!, `${id}.record`)).toString('utf8'),
      ) as QuarantineRecord;
    } catch {
      return undefined;
    }
  }

  async get(id: string): Promise<QuarantineRecord | undefined> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
    if (this.shared) return this.sharedRecord(id);
    try {
      return JSON.parse(await readFile(join(this.dir, `${id}.json`), 'utf8')) as QuarantineRecord;
    } catch {
      return undefined;
    }
  }

  /** Where the object is kept in the folder (not shared). */
  filePath(id: string): string {
    return join(this.dir, `${id}.dcm`);
  }

  /** The quarantined object's bytes (for a requeue). */
  async open(id: string): Promise<Readable> {
    if (this.shared) return (await this.shared.open(id)).stream;
    return createReadStream(join(this.dir, `${id}.dcm`));
  }

  async remove(id: string): Promise<void> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return;
    if (this.shared) {
      await this.shared.delete(`${id}.record`);
      await this.shared.delete(id);
      return;
    }
    await unlink(join(this.dir, `${id}.json`)).catch(() => undefined);
    await unlink(join(this.dir, `${id}.dcm`)).catch(() => undefined);
  }
}
