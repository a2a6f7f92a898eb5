import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openSqliteIndex } from '../storage/sqlite-index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-labels-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

it('adds the manual flag to assignments in an index made before it existed, keeping them', async () => {
  const path = join(dir, 'index.sqlite');
  await openSqliteIndex(path).close();
  // Put back the table as it was before the flag, with an assignment in it.
  const old = new Database(path);
  old.exec(`
    DROP TABLE SeriesSeriesTypes;
    CREATE TABLE SeriesSeriesTypes (
      seriesId INTEGER NOT NULL REFERENCES Series (id) ON DELETE CASCADE,
      seriesTypeId INTEGER NOT NULL,
      PRIMARY KEY (seriesId, seriesTypeId)
    );
    INSERT INTO Patients (id) VALUES (1);
    INSERT INTO Studies (id, patientId) VALUES (1, 1);
    INSERT INTO Series (id, studyId) VALUES (1, 1);
    INSERT INTO SeriesSeriesTypes VALUES (1, 7);
  `);
  old.close();

  const index = openSqliteIndex(path);
  try {
    expect(await index.seriesTypeAssignments(1)).toEqual([{ seriesTypeId: 7, manual: false }]);
    await index.assignSeriesType(1, 8);
    await index.setAutomaticSeriesTypes(1, [9]);
    expect(await index.seriesTypeAssignments(1)).toEqual([
      { seriesTypeId: 8, manual: true },
      { seriesTypeId: 9, manual: false },
    ]);
  } finally {
    await index.close();
  }
  // Opening again finds the column and leaves it alone.
  await openSqliteIndex(path).close();
});
