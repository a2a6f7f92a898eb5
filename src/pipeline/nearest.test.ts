import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { didYouMean, editDistance, knownKeys, nearest } from './nearest.js';

describe('nearest name', () => {
  it('counts an adjacent swap as one edit', () => {
    expect(editDistance('ae_titel', 'ae_title')).toBe(1);
    expect(editDistance('port', 'prot')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests a close name and nothing for a distant one', () => {
    const known = ['SLUICE_HTTP_PORT', 'SLUICE_HTTP_HOST', 'SLUICE_DICOM_PORT'];
    expect(nearest('SLUICE_HTTP_PROT', known)).toBe('SLUICE_HTTP_PORT');
    expect(nearest('sluice_http_host', known)).toBe('SLUICE_HTTP_HOST');
    expect(nearest('SLUICE_SOMETHING_ELSE', known)).toBeUndefined();
    expect(didYouMean('ae_titel', ['ae_title', 'port'])).toBe(' (did you mean "ae_title"?)');
    expect(didYouMean('zzz', ['ae_title'])).toBe('');
  });

  it('finds the keys of an object schema through defaults, arrays and pipes', () => {
    const schema = z.strictObject({
      a: z.number(),
      list: z.array(z.strictObject({ inner: z.string(), other: z.string().optional() })).default([]),
    });
    expect(knownKeys(schema, [])).toEqual(['a', 'list']);
    expect(knownKeys(schema, ['list', 0])).toEqual(['inner', 'other']);
    expect(knownKeys(schema, ['a'])).toEqual([]);
    expect(knownKeys(schema, ['missing'])).toEqual([]);
  });
});
