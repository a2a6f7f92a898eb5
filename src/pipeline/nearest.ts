/**
 * "Did you mean …?" for misspelt keys, component types and variables: the closest known name by edit
 * distance (an adjacent swap counts as one edit), when it is close enough to be a typo.
 */
import type { z } from 'zod';

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** The known name closest to `word` (case-insensitive), if at most a third of its letters differ. */
export function nearest(word: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const w = word.toLowerCase();
  for (const candidate of known) {
    const distance = editDistance(w, candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best !== undefined && best !== word && bestDistance <= Math.max(1, Math.floor(word.length / 3))
    ? best
    : undefined;
}

/** ` (did you mean "x"?)`, or nothing. */
export function didYouMean(word: string, known: Iterable<string>): string {
  const guess = nearest(word, known);
  return guess === undefined ? '' : ` (did you mean "${guess}"?)`;
}

/** The keys an object schema accepts at `path` inside `schema` (through defaults, optionals, arrays, pipes). */
export function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: unknown = schema;
  const unwrap = () => {
    for (;;) {
      const def = (node as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
      if (!def) return undefined;
      if ('innerType' in def) node = def.innerType;
      else if (def.type === 'pipe') node = def.in;
      else return def;
    }
  };
  for (const segment of path) {
    const def = unwrap();
    if (def?.type === 'object' && typeof segment === 'string')
      node = (def.shape as Record<string, unknown>)[segment];
    else if (def?.type === 'array' && typeof segment === 'number') node = def.element;
    else return [];
    if (node === undefined) return [];
  }
  const def = unwrap();
  return def?.type === 'object' ? Object.keys(def.shape as Record<string, unknown>) : [];
}
