/**
 * Quarantine: objects that could not be parsed or were rejected, kept with a small JSON record
 * (code, component, time, source; never patient data) so they can be inspected and re-queued.
 */
import { mkdir, readdir, readFile, rename, copyFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { SourceRef } from './origin.js';
import type { SluiceError } from '../errors.js';
import { fsyncDir, fsyncFile } from './landing.js';
import type { LogService } from '../log/service.js';

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

export class Quarantine {
  private ready: Promise<void>;
  constructor(
    readonly dir: string,
    /** Where ingest failures are also reported (`/api/log`, subject `Ingest`). */
    private readonly log?: LogService,
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
    await this.log?.write({
      subject: 'Ingest',
      type: 'WARN',
      message: `Quarantined ${record.sopInstanceUID ? `SOP instance ${record.sopInstanceUID}` : 'an object'} from ${record.source.sourceType} ${record.source.sourceId} (pipeline ${record.pipeline}, ${record.component}): ${record.code}: ${record.message}; quarantine id ${id}`,
    });
    return record;
  }

  async list(): Promise<QuarantineRecord[]> {
    await this.ready;
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json'));
    const records = await Promise.all(
      names.map(async (n) => JSON.parse(await readFile(join(this.dir, n), 'utf8')) as QuarantineRecord),
    );
    return records.sort((a, b) => b.quarantinedAt.localeCompare(a.quarantinedAt));
  }

  async get(id: string): Promise<QuarantineRecord | undefined> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
    try {
      return JSON.parse(await readFile(join(this.dir, `${id}.json`), 'utf8')) as QuarantineRecord;
    } catch {
      return undefined;
    }
  }

  filePath(id: string): string {
    return join(this.dir, `${id}.dcm`);
  }

  async remove(id: string): Promise<void> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return;
    await unlink(join(this.dir, `${id}.json`)).catch(() => undefined);
    await unlink(join(this.dir, `${id}.dcm`)).catch(() => undefined);
  }
}
