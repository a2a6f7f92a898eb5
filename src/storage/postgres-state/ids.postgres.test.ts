/**
 * Id blocks from PostgreSQL sequences (scale project): several allocators on one database, as several
 * processes writing one ClickHouse index, never give one id twice, and blocks start above the ids an index
 * already holds.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { blockIdAllocator, type IdLevel } from '../clickhouse-index/ids.js';
import { ID_BLOCK_SIZE, openPostgresIdBlocks } from './ids.js';

const database = () => `${process.env.TEST_POSTGRES_URL}/ids_${randomBytes(6).toString('hex')}`;
const none: Record<IdLevel, number> = { Patients: 0, Studies: 0, Series: 0, Images: 0, SeriesTags: 0 };

describe('id blocks from PostgreSQL sequences', () => {
  it('give every id once across allocators taking at the same time', async () => {
    const url = database();
    const sources = await Promise.all([1, 2, 3].map(() => openPostgresIdBlocks(url)));
    try {
      const allocators = sources.map((s) => blockIdAllocator(s));
      const taken = await Promise.all(
        allocators.map(async (ids) => {
          const got: number[] = [];
          for (let round = 0; round < 5; round++) {
            await ids.reserve('Images', 700);
            for (let n = 0; n < 700; n++) got.push(ids.next('Images'));
          }
          return got;
        }),
      );
      const all = taken.flat();
      expect(all).toHaveLength(3 * 5 * 700);
      expect(new Set(all).size).toBe(all.length);
      expect(Math.min(...all)).toBe(1);
      // Levels count apart.
      await allocators[0].reserve('Patients', 1);
      expect(allocators[0].next('Patients')).toBe(1);
    } finally {
      await Promise.all(sources.map((s) => s.close()));
    }
  });

  it('start above what the index holds, and never go back below what was given', async () => {
    const url = database();
    const first = await openPostgresIdBlocks(url);
    await first.raise({ ...none, Series: 12_345 });
    const ids = blockIdAllocator(first);
    await ids.reserve('Series', 1);
    const given = ids.next('Series');
    expect(given).toBeGreaterThan(12_345);
    await first.close();
    // A second process opening with lower seeds keeps counting on.
    const second = await openPostgresIdBlocks(url);
    await second.raise({ ...none, Series: 10 });
    const again = blockIdAllocator(second);
    await again.reserve('Series', 1);
    expect(again.next('Series')).toBeGreaterThanOrEqual(given - 1 + ID_BLOCK_SIZE);
    expect(() => again.next('Studies')).toThrow(/no Studies id reserved/);
    await second.close();
  });
});
