import { describe, expect, it } from 'vitest';
import { applyWindow, chooseWindow, windowFunction } from './voi.js';

describe('chooseWindow', () => {
  const file = { center: 40, width: 400, fn: 'LINEAR' };
  const range = { min: -1024, max: 3071 };

  it("takes the caller's min..max first, centred at (min + max) / 2", () => {
    expect(chooseWindow({ min: 100, max: 300 }, file, range)).toEqual({
      center: 200,
      width: 200,
      fn: 'LINEAR_EXACT',
    });
  });

  it("then the file's window, then the pixel range", () => {
    expect(chooseWindow(undefined, file, range)).toBe(file);
    expect(chooseWindow(undefined, undefined, range)).toEqual({
      center: 1023.5,
      width: 4095,
      fn: 'LINEAR_EXACT',
    });
  });

  it('gives a flat image a window of width 1 at its value', () => {
    expect(chooseWindow(undefined, undefined, { min: 7, max: 7 })).toEqual({
      center: 7,
      width: 1,
      fn: 'LINEAR_EXACT',
    });
  });
});

describe('windowFunction', () => {
  it('LINEAR_EXACT maps center − width/2 to 0 and center + width/2 to 255', () => {
    const f = windowFunction({ center: 200, width: 200, fn: 'LINEAR_EXACT' });
    expect([f(50), f(100), f(150), f(200), f(250), f(300), f(400)]).toEqual([
      0, 0, 63.75, 127.5, 191.25, 255, 255,
    ]);
  });

  it('LINEAR follows PS3.3 C.11.2.1.2 (center − 0.5, width − 1)', () => {
    const f = windowFunction({ center: 2048, width: 4096, fn: 'LINEAR' });
    // x <= c − 0.5 − (w − 1)/2 = 0 → 0; x > c − 0.5 + (w − 1)/2 = 4095 → 255.
    expect(f(0)).toBe(0);
    expect(f(4096)).toBe(255);
    expect(f(2047.5)).toBe(127.5);
    expect(f(1)).toBeCloseTo(255 / 4095 + 0, 10);
  });

  it('LINEAR with width 1 is a threshold at the centre', () => {
    const f = windowFunction({ center: 10, width: 1, fn: 'LINEAR' });
    expect([f(9), f(9.5), f(10), f(11)]).toEqual([0, 0, 255, 255]);
  });

  it('SIGMOID is 127.5 at the centre and symmetric around it', () => {
    const f = windowFunction({ center: 100, width: 50, fn: 'SIGMOID' });
    expect(f(100)).toBe(127.5);
    expect(f(125) + f(75)).toBeCloseTo(255, 10);
    expect(f(125)).toBeCloseTo(255 / (1 + Math.exp(-2)), 10);
  });
});

describe('applyWindow', () => {
  it('rounds to 0..255 and inverts for MONOCHROME1', () => {
    const w = { center: 200, width: 200, fn: 'LINEAR_EXACT' };
    const values = [100, 150, 200, 250, 300];
    expect(Array.from(applyWindow(values, w, false, new Uint8Array(5)))).toEqual([0, 64, 128, 191, 255]);
    expect(Array.from(applyWindow(values, w, true, new Uint8Array(5)))).toEqual([255, 191, 127, 64, 0]);
  });
});
