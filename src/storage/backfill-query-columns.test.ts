import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteIndex } from './sqlite-index.js';
import { backfillQueryColumns } from './backfill-query-columns.js';
import { parseHeader } from '../dicom/header.js';
import { makeInstance } from '../../test/fixtures/dicom-fixtures.js';
import type { BlobStore } from './blob-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-backfill-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('Query/Retrieve columns of an index made before them', () => {
  it('are added empty, then filled from the stored files in the background', async () => {
    const path = join(dir, 'index.sqlite');
    const bytes = makeInstance({ rows: 32, columns: 16, extra: { StudyTime: '081500', SeriesNumber: '7' } });
    const file = join(dir, 'instance.dcm');
    await writeFile(file, bytes);
    const header = parseHeader(bytes);
    const before = openSqliteIndex(path);
    await before.upsert({
      header,
      size: bytes.length,
      origin: { sourceType: 'scp', sourceId: 1, sourceName: 'SCP' },
    });
    await before.close();
    // The index as it was before the Query/Retrieve columns.
    const db = new Database(path);
    for (const [table, column] of [
      ['Studies', 'studyTime'],
      ['Studies', 'referringPhysicianName'],
      ['Series', 'seriesNumber'],
      ['Series', 'seriesTime'],
      ['Series', 'performedProcedureStepStartDate'],
      ['Series', 'performedProcedureStepStartTime'],
      ['Images', 'rows'],
      ['Images', 'columns'],
      ['Images', 'numberOfFrames'],
      ['Images', 'bitsAllocated'],
    ])
      db.exec(`ALTER TABLE "${table}" DROP COLUMN "${column}"`);
    db.exec('DROP TABLE "QueryColumnsBackfill"');
    db.close();

    const index = openSqliteIndex(path);
    const values = async () =>
      (
        await index.find({
          level: 'IMAGE',
          keys: [],
          returns: ['StudyTime', 'SeriesNumber', 'Rows', 'Columns'],
          caseInsensitiveNames: true,
          limit: 10,
        })
      )[0].values;
    expect(await values()).toEqual({ StudyTime: '', SeriesNumber: '', Rows: '', Columns: '' });
    expect(await index.imagesWithoutQueryColumns(10)).toHaveLength(1);
    const blobs = { localPath: () => file } as unknown as BlobStore;
    expect(await backfillQueryColumns(index, blobs)).toBe(1);
    expect(await values()).toEqual({ StudyTime: '081500', SeriesNumber: '7', Rows: '32', Columns: '16' });
    expect(await index.imagesWithoutQueryColumns(10)).toHaveLength(0);
    expect(
      await index.seriesSourceWithName!((await index.list('series', { startIndex: 0, count: 1 }))[0].id),
    ).toMatchObject({
      sourceType: 'scp',
      sourceName: 'SCP',
    });
    await index.close();
  });
});
