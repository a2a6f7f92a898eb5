import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RenderPool } from './pool.js';
import { transcodeFile } from './transcode.js';
import { TransferSyntax } from '../dicom/transfer-syntax.js';
import { makeInstance } from '../../test/fixtures/dicom-fixtures.js';

const PYDICOM = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-pool-'));
  file = join(dir, 'ct.dcm');
  await writeFile(file, makeInstance({ rows: 32, columns: 32 }));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('RenderPool', () => {
  it('renders in a worker thread and answers errors as the same SluiceError', async () => {
    const pool = new RenderPool({ workers: 1 });
    try {
      const { png, width, height } = await pool.png({ path: file, frame: 1 });
      expect(Buffer.from(png).toString('latin1', 1, 4)).toBe('PNG');
      expect([width, height]).toEqual([32, 32]);
      await expect(pool.png({ path: file, frame: 2 })).rejects.toMatchObject({
        code: 'API.BAD_REQUEST',
        httpStatus: 400,
      });
      await expect(pool.information(join(dir, 'missing.dcm'))).rejects.toMatchObject({ httpStatus: 404 });
    } finally {
      await pool.close();
    }
  });

  it('refuses jobs beyond its queue at once with 503', async () => {
    const pool = new RenderPool({ workers: 1, maxQueue: 1 });
    try {
      const running = pool.png({ path: file, frame: 1 }); // on the worker
      const waiting = pool.png({ path: file, frame: 1 }); // in the queue
      await expect(pool.png({ path: file, frame: 1 })).rejects.toMatchObject({
        code: 'RENDER.BUSY',
        httpStatus: 503,
      });
      await expect(Promise.all([running, waiting])).resolves.toHaveLength(2);
    } finally {
      await pool.close();
    }
  });

  it('transcodes in a worker thread as on the calling one, past a full queue, failing as there', async () => {
    const pool = new RenderPool({ workers: 1, maxQueue: 0 });
    const rle = join(PYDICOM, 'rtdose_rle.dcm'); // 15 frames: the result is larger than Node's shared pool
    try {
      const [viaPool, here] = await Promise.all([
        pool.transcode(rle, TransferSyntax.ImplicitVRLittleEndian),
        transcodeFile(rle, TransferSyntax.ImplicitVRLittleEndian),
      ]);
      expect(viaPool.equals(here)).toBe(true);
      await expect(
        pool.transcode(
          join(PYDICOM, 'JPEG2000-embedded-sequence-delimiter.dcm'),
          TransferSyntax.ExplicitVRLittleEndian,
        ),
      ).rejects.toMatchObject({
        code: 'TRANSCODE.FAILED',
        message: expect.stringMatching(/^frame 1 of 1: /),
      });
    } finally {
      await pool.close();
    }
  });

  it('replaces a worker whose job timed out and goes on', async () => {
    const pool = new RenderPool({ workers: 1, jobTimeoutMs: 1 });
    try {
      // A worker thread takes far longer than 1 ms to start, so the first job times out.
      await expect(pool.png({ path: file, frame: 1 })).rejects.toMatchObject({ code: 'RENDER.TIMEOUT' });
      expect(pool.load).toEqual({ running: 0, waiting: 0 });
    } finally {
      await pool.close();
    }
  });
});
