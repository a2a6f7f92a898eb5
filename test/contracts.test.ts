/**
 * Contract tests over every registered component: a summary, a strict config schema that accepts its own
 * example and rejects unknown keys, documented fields, and a file name that matches its type.
 */
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { registry } from '../src/components.js';
import { loadPipelineFile } from '../src/pipeline/pipeline-file.js';

const folder = { source: 'sources', operator: 'operators', sink: 'sinks' } as const;

describe.each(registry.all().map((d) => [`${d.kind} ${d.type}`, d] as const))('%s', (_name, def) => {
  it('has a summary and snake_case type', () => {
    expect(def.summary.length).toBeGreaterThan(10);
    expect(def.type).toMatch(/^[a-z][a-z0-9_]*$/);
  });
  it('accepts its example and rejects unknown keys', () => {
    expect(() => (def.config as z.ZodType).parse(def.example)).not.toThrow();
    expect((def.config as z.ZodType).safeParse({ ...(def.example as object), no_such_key: 1 }).success).toBe(
      false,
    );
  });
  it('documents every config field', () => {
    const shape = (def.config as unknown as z.ZodObject).shape as Record<string, z.ZodType>;
    for (const [key, field] of Object.entries(shape)) {
      expect(key).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(
        field.description ?? (field as any).unwrap?.()?.description,
        `${def.type}.${key} needs .describe()`,
      ).toBeTruthy();
    }
  });
  it('lives in a file named after its type', () => {
    const base = `src/${folder[def.kind]}/${def.type.replace(/_/g, '-')}`;
    expect(existsSync(`${base}.ts`) || existsSync(`${base}/index.ts`) || existsSync(`${base}-sink.ts`)).toBe(
      true,
    );
  });
});

describe('pipeline files in pipelines/ and bench/pipelines/', () => {
  const files = ['pipelines', 'bench/pipelines'].flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => `${dir}/${f}`),
  );
  it('exist', () => expect(files.length).toBeGreaterThan(1));
  it.each(files)('%s lints clean', async (file) => {
    await expect(loadPipelineFile(file, registry)).resolves.toBeTruthy();
  });
});
