/**
 * Id blocks for the ClickHouse index from PostgreSQL sequences (one per level, `IndexIds_<level>`, stepping by
 * the block size): `nextval` gives each block to one caller only, across every process of a site, so that
 * Slicebox's numeric ids stay unique when several processes write one index. A process that stops leaves
 * the rest of its block unused (ids have gaps, never repeats).
 */
import type { IdBlocks, IdLevel } from '../clickhouse-index/ids.js';
import { ID_LEVELS } from '../clickhouse-index/ids.js';
import { openPostgres } from './db.js';
import { parsePostgresUrl } from './location.js';

export const ID_BLOCK_SIZE = 1000;

const sequence = (level: IdLevel) => `IndexIds_${level}`;

/** Opens the id blocks in the state database (`SLUICE_STATE`), creating the sequences when missing. */
export async function openPostgresIdBlocks(url: string): Promise<IdBlocks> {
  // Processes starting at once create the sequences once (IF NOT EXISTS alone races in the catalog).
  const connection = await openPostgres(parsePostgresUrl(url), ({ transaction }) =>
    transaction(async (db) => {
      await db.run('SELECT pg_advisory_xact_lock(hashtext($1))', ['IndexIds']);
      for (const level of ID_LEVELS)
        await db.run(
          `CREATE SEQUENCE IF NOT EXISTS ${sequence(level)} INCREMENT BY ${ID_BLOCK_SIZE} MINVALUE 1`,
        );
    }),
  );
  const { db } = connection;
  return {
    blockSize: ID_BLOCK_SIZE,
    raise: async (seeds) => {
      // Blocks start above what the index already holds; a sequence already further on stays where it is.
      for (const level of ID_LEVELS)
        await db.atomic(async (tx) => {
          await tx.run('SELECT pg_advisory_xact_lock(hashtext($1))', [sequence(level)]);
          const state = await tx.row<{ lastValue: number; isCalled: boolean }>(
            `SELECT last_value AS "lastValue", is_called AS "isCalled" FROM ${sequence(level)}`,
          );
          const given = state!.isCalled ? state!.lastValue + ID_BLOCK_SIZE - 1 : 0;
          if (seeds[level] > given)
            await tx.run(`SELECT setval($1, $2, true)`, [sequence(level), seeds[level]]);
        });
    },
    take: async (level, count) =>
      (
        await db.rows<{ start: number }>(`SELECT nextval($1) AS "start" FROM generate_series(1, $2)`, [
          sequence(level),
          count,
        ])
      ).map((r) => r.start),
    close: connection.close,
  };
}
