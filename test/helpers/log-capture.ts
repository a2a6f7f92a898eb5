import { configureLogging, type LogLevel } from '../../src/ops/logger.js';

export interface LogLine {
  level: number;
  time: string;
  component?: string;
  msg: string;
  [field: string]: unknown;
}

/** Installs a JSON logger that keeps every line; `lines()` parses what was written so far. */
export function captureLogs(level: LogLevel = 'info') {
  const raw: string[] = [];
  configureLogging({ level, format: 'json', destination: { write: (s: string) => void raw.push(s) } });
  return {
    raw: () => raw.join(''),
    lines: (): LogLine[] =>
      raw
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LogLine),
    clear: () => void raw.splice(0),
    level: (l: LogLevel) =>
      configureLogging({ level: l, format: 'json', destination: { write: (s: string) => void raw.push(s) } }),
  };
}

/** Prometheus text as `name{labels}` → value (labels in the order written). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample: ${line}`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

/** Polls `find` until it answers something, or fails after `ms`. */
export async function waitFor<T>(find: () => T | undefined, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('waited in vain');
    await new Promise((r) => setTimeout(r, 50));
  }
}
