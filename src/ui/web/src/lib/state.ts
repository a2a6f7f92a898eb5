import { useState } from 'react';

const memory = new Map<string, unknown>();

/** useState that survives leaving the page and coming back (search fields, paging, sort), for this tab. */
export function useKept<T>(key: string, initial: T): [T, (v: T) => void] {
  const [value, setValue] = useState<T>(() => (memory.has(key) ? (memory.get(key) as T) : initial));
  return [
    value,
    (v: T) => {
      memory.set(key, v);
      setValue(v);
    },
  ];
}
