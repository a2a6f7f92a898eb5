import { useState } from 'react';

/** Checked rows of a list, by id. */
export function useSelection() {
  const [ids, setIds] = useState<number[]>([]);
  return {
    ids,
    has: (id: number) => ids.includes(id),
    toggle: (id: number) => setIds(ids.includes(id) ? ids.filter((x) => x !== id) : [...ids, id]),
    setAll: (all: number[], on: boolean) =>
      setIds(on ? [...new Set([...ids, ...all])] : ids.filter((x) => !all.includes(x))),
    clear: () => setIds([]),
  };
}
export type Selection = ReturnType<typeof useSelection>;
