/**
 * Slicebox's numeric ids for the ClickHouse index, which has no auto-increment. The index reserves the ids a
 * batch may need (`reserve`, asynchronous, before its synchronous part) and then takes them one by one
 * (`next`), inside its own write serialisation.
 *
 * - `processIdAllocator`: counts in the process from the largest id each table ever held (deleted rows
 *   included, so an id is never given twice), read at open. SINGLE WRITER: two processes writing one index
 *   would collide.
 * - `blockIdAllocator` over an `IdBlocks` source (storage/postgres-state/ids.ts: PostgreSQL sequences): ids
 *   come in blocks that no other process is given, so any number of processes write one index.
 */
export type IdLevel = 'Patients' | 'Studies' | 'Series' | 'Images' | 'SeriesTags';

export const ID_LEVELS: readonly IdLevel[] = ['Patients', 'Studies', 'Series', 'Images', 'SeriesTags'];

export interface IdAllocator {
  /** Makes sure that the next `count` calls of `next(level)` can be answered. */
  reserve(level: IdLevel, count: number): Promise<void>;
  /** The next unused id of the level (reserved before). */
  next(level: IdLevel): number;
}

/** Counts on from `seeds` (the largest id per level at open). */
export function processIdAllocator(seeds: Record<IdLevel, number>): IdAllocator {
  const last = { ...seeds };
  return {
    reserve: () => Promise.resolve(),
    next: (level) => ++last[level],
  };
}

/** A source of id blocks shared by every process: each block is given once. */
export interface IdBlocks {
  /** The size of every block. */
  readonly blockSize: number;
  /**
   * Makes sure that blocks are given only above `seeds` (the largest ids the index holds: blocks given before
   * this source existed), then answers nothing.
   */
  raise(seeds: Record<IdLevel, number>): Promise<void>;
  /** The first ids of `count` new blocks of the level. */
  take(level: IdLevel, count: number): Promise<number[]>;
  close(): Promise<void>;
}

/** Takes ids from blocks of `source`, fetching more when a reservation needs them. */
export function blockIdAllocator(source: IdBlocks): IdAllocator {
  const free = Object.fromEntries(ID_LEVELS.map((l) => [l, [] as Array<[number, number]>])) as Record<
    IdLevel,
    Array<[next: number, end: number]>
  >;
  const left = (level: IdLevel) => free[level].reduce((n, [next, end]) => n + end - next, 0);
  return {
    async reserve(level, count) {
      const missing = count - left(level);
      if (missing <= 0) return;
      const starts = await source.take(level, Math.ceil(missing / source.blockSize));
      for (const start of starts) free[level].push([start, start + source.blockSize]);
    },
    next(level) {
      const range = free[level][0];
      if (!range) throw new Error(`no ${level} id reserved`);
      const id = range[0]++;
      if (range[0] === range[1]) free[level].shift();
      return id;
    },
  };
}
