/**
 * The default pipeline's watched folder: files dropped into <data dir>/inbox reach the index, the
 * originals go only after they are stored, and junk is quarantined.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { eventually } from './helpers/eventually.js';

let engine: TestEngine;
beforeAll(async () => {
  engine = await startTestEngine();
});
afterAll(async () => engine?.cleanup());

describe('watched folder in the default pipeline', () => {
  it('imports dropped files into the index and removes them', async () => {
    const inbox = join(engine.dataDir, 'inbox');
    const sops = [newUid(), newUid()];
    await mkdir(join(inbox, 'sub'), { recursive: true });
    await writeFile(join(inbox, 'a.dcm'), makeInstance({ sopInstanceUid: sops[0], patientId: 'WATCH' }));
    await writeFile(join(inbox, 'sub', 'b'), makeInstance({ sopInstanceUid: sops[1], patientId: 'WATCH' }));
    await writeFile(join(inbox, 'notes.txt'), 'not an image');

    await eventually(async () => {
      const images = (await (
        await engine.api('/api/metadata/images/query', {
          method: 'POST',
          body: JSON.stringify({
            startIndex: 0,
            count: 10,
            queryProperties: [{ propertyName: 'patientID', operator: '=', propertyValue: 'WATCH' }],
          }),
        })
      ).json()) as Array<{ id: number; sopInstanceUID: { value: string } }>;
      expect(images.map((i) => i.sopInstanceUID.value).sort()).toEqual([...sops].sort());
      const quarantine = (await (await engine.api('/api/quarantine')).json()) as Array<{
        detail: string;
        code: string;
      }>;
      expect(quarantine).toContainEqual(
        expect.objectContaining({ detail: 'notes.txt', code: 'DICOM.INVALID' }),
      );
      expect(await readdir(inbox, { recursive: true })).toEqual(['sub']);
    });
    const [image] = await engine.imagesBySop(sops[0]);
    const source = (await (
      await engine.api(`/api/metadata/series/${image.seriesId}/source`)
    ).json()) as object;
    expect(source).toMatchObject({ sourceType: 'directory', sourceId: 1, sourceName: 'inbox' });
  });
});
