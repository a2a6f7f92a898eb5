import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('box settings from the environment', () => {
  it('reads the public URL without trailing slashes, and box timings when given', () => {
    const config = loadConfig({
      SLUICE_PUBLIC_URL: 'https://sluice.example.org/pacs/',
      SLUICE_BOX_POLL_INTERVAL_MS: '250',
      SLUICE_BOX_PARALLELISM: '4',
    });
    expect(config.publicUrl).toBe('https://sluice.example.org/pacs');
    expect(config.boxes).toEqual({ pollIntervalMs: 250, parallelism: 4 });
    expect(loadConfig({}).publicUrl).toBeUndefined();
    expect(loadConfig({}).boxes).toEqual({});
  });

  it('refuses a public URL that is not http(s) and box numbers below 1', () => {
    expect(() => loadConfig({ SLUICE_PUBLIC_URL: 'ftp://host' })).toThrow(/SLUICE_PUBLIC_URL/);
    expect(() => loadConfig({ SLUICE_BOX_BATCH_SIZE: '0' })).toThrow(
      /SLUICE_BOX_BATCH_SIZE must be at least 1/,
    );
    expect(() => loadConfig({ SLUICE_BOX_RETRY_MAX_MS: 'soon' })).toThrow(/SLUICE_BOX_RETRY_MAX_MS/);
  });
});
