import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseHeader } from '../dicom/header.js';
import { makeInstance, newUid } from '../../test/fixtures/dicom-fixtures.js';
import { openSqliteIndex } from './sqlite-index.js';
import type { MetadataIndex } from './metadata-index.js';

const SCP = { sourceType: 'scp', sourceId: 1, sourceName: 'SCP' } as const;
let dir: string;
let index: MetadataIndex;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-readers-'));
  index = openSqliteIndex(join(dir, 'index.sqlite'), { readers: 2 });
});
afterEach(async () => {
  await index.close();
  rmSync(dir, { recursive: true, force: true });
});

const instance = (patientId: string) => {
  const bytes = makeInstance({ patientId, patientName: `Reader^${patientId}`, studyInstanceUid: newUid() });
  return { header: parseHeader(bytes), size: bytes.length, origin: SCP };
};
const page = { startIndex: 0, count: 1000 };

describe('index reader threads', () => {
  it('see every write committed before they read', async () => {
    for (let n = 1; n <= 15; n++) {
      await index.upsert(instance(`R${n}`));
      expect(await index.list('patients', page)).toHaveLength(n);
      const [found] = await index.query('patients', {
        ...page,
        queryProperties: [{ propertyName: 'patientID', operator: '=', propertyValue: `R${n}` }],
      });
      expect(found?.patientName.value).toBe(`Reader^R${n}`);
    }
  });

  it('answer many reads side by side, each its own answer', async () => {
    for (let n = 0; n < 30; n++) await index.upsert(instance(`P${String(n).padStart(2, '0')}`));
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        index.list('patients', { startIndex: i % 30, count: 1, orderBy: 'patientID' }),
      ),
    );
    answers.forEach((rows, i) =>
      expect(rows.map((p) => p.patientID.value)).toEqual([`P${String(i % 30).padStart(2, '0')}`]),
    );
  });

  it('refuse reads once the index is closed', async () => {
    await index.upsert(instance('C1'));
    await index.close();
    await expect(index.list('patients', page)).rejects.toMatchObject({ code: 'INDEX.CLOSED' });
    index = openSqliteIndex(join(dir, 'index.sqlite'), { readers: 1 });
    expect(await index.list('patients', page)).toHaveLength(1);
  });
});
