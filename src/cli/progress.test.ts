import { describe, expect, it } from 'vitest';
import { duration, formatProgress } from './progress.js';

describe('the import progress bar', () => {
  it('shows files, MB/s, ETA and failures', () => {
    const line = formatProgress(
      { done: 50, total: 200, bytes: 25e6, totalBytes: 100e6, failed: 2 },
      5000,
      20,
    );
    expect(line).toBe('[#####---------------] 50/200 files 5.0 MB/s ETA 15s 2 failed');
    expect(formatProgress({ done: 0, total: 3, bytes: 0, totalBytes: 3e6, failed: 0 }, 0, 4)).toBe(
      '[----] 0/3 files 0.0 MB/s ETA ?',
    );
  });

  it('writes durations as people read them', () => {
    expect(duration(9.4)).toBe('9s');
    expect(duration(75)).toBe('1m15s');
    expect(duration(7322)).toBe('2h02m');
    expect(duration(Infinity)).toBe('?');
  });
});
