/**
 * Slicebox's numeric ids for the ClickHouse index, which has no auto-increment. SINGLE WRITER: this allocator
 * counts in the process, from the largest id each table ever held (deleted rows included, so an id is never
 * given twice), read at open; the index calls it only inside its own write serialisation. Two processes
 * writing one index would collide. When the PostgreSQL state store brings sequences, an allocator over
 * them replaces this file (the interface stays).
 */
export type IdLevel = 'Patients' | 'Studies' | 'Series' | 'Images' | 'SeriesTags';

export interface IdAllocator {
  /** The next unused id of the level. */
  next(level: IdLevel): number;
}

/** Counts on from `seeds` (the largest id per level at open). */
export function processIdAllocator(seeds: Record<IdLevel, number>): IdAllocator {
  const last = { ...seeds };
  return {
    next: (level) => ++last[level],
  };
}
