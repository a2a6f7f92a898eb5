import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  actionFor,
  BASIC_COLUMN,
  compileProfile,
  normalizeOptions,
  OPTION_NAMES,
  OPTIONS,
  parseTableTag,
  resolveCombined,
  safePrivateAttributes,
  splitCsvLine,
  tableE11,
} from './profile.js';

const reference = new URL('../../../../shared/reference/ps3.15-table-E.1-1-2018d.csv', import.meta.url);

describe('Table E.1-1 as data', () => {
  it('holds all 303 rows of the 2018d edition with the action counts of its Basic Profile column', () => {
    const rows = tableE11();
    expect(rows).toHaveLength(303);
    const counts: Record<string, number> = {};
    for (const row of rows)
      counts[row.actions[BASIC_COLUMN]!] = (counts[row.actions[BASIC_COLUMN]!] ?? 0) + 1;
    // The figures Slicebox's notes give for the same edition (reference/slicebox.md §4.3).
    expect(counts).toEqual({
      X: 215,
      U: 35,
      Z: 14,
      'X/D': 14,
      'X/Z': 7,
      'X/Z/D': 7,
      D: 6,
      'Z/D': 3,
      'X/Z/U*': 2,
    });
  });

  it.runIf(existsSync(reference))('matches the reference extraction of the standard row for row', () => {
    const lines = readFileSync(reference, 'utf8').split(/\r?\n/).filter(Boolean).slice(1);
    const rows = tableE11();
    expect(rows).toHaveLength(lines.length);
    lines.forEach((line, i) => {
      const cells = splitCsvLine(line);
      expect(rows[i]!.name, `row ${i + 2}`).toBe(cells[0]);
      expect(rows[i]!.tag, `row ${i + 2}`).toBe(cells[1]);
      expect(Object.values(rows[i]!.actions), `row ${i + 2}`).toEqual(cells.slice(4));
    });
  });

  it('every row compiles: each tag, mask and the private row gets the action of its Basic column', () => {
    const basic = compileProfile([]);
    let checked = 0;
    for (const row of tableE11()) {
      const parsed = parseTableTag(row.tag);
      const want = resolveCombined(row.actions[BASIC_COLUMN] as never);
      if (parsed.kind === 'private') expect(basic.privateAction).toBe('X');
      else if (parsed.kind === 'exact') {
        // 2018d lists Reviewer Name and Source Serial Number twice: the later row decides.
        const last = [...tableE11()].reverse().find((r) => r.tag === row.tag)!;
        expect(actionFor(basic, parsed.tag), row.name).toBe(
          resolveCombined(last.actions[BASIC_COLUMN] as never),
        );
      } else expect(basic.masks.some((m) => m.action === want && m.mask === parsed.mask)).toBe(true);
      checked++;
    }
    expect(checked).toBe(303);
    expect(actionFor(basic, 0x50120030)).toBe('X'); // a curve element, through the 50xx,xxxx mask
    expect(actionFor(basic, 0x60024000)).toBe('X'); // Overlay Comments of the second overlay
    expect(actionFor(basic, 0x60020010)).toBeUndefined(); // Overlay Rows: not named, kept
  });

  it('each option column overrides the Basic Profile where it says something', () => {
    for (const name of OPTION_NAMES.filter((o) => o !== 'BASIC_PROFILE')) {
      const profile = compileProfile([name]);
      const column = OPTIONS[name].column!;
      for (const row of tableE11()) {
        const parsed = parseTableTag(row.tag);
        if (parsed.kind !== 'exact' || row.tag === '(300E,0008)' || row.tag === '(3008,0105)') continue;
        const code = row.actions[column] || row.actions[BASIC_COLUMN];
        expect(actionFor(profile, parsed.tag), `${name} ${row.name}`).toBe(resolveCombined(code as never));
      }
    }
    expect(compileProfile(['RETAIN_SAFE_PRIVATE']).privateAction).toBe('C');
  });

  it('resolves combined codes to the alternative that is valid for every IOD type', () => {
    expect(resolveCombined('X/Z')).toBe('Z');
    expect(resolveCombined('X/D')).toBe('D');
    expect(resolveCombined('X/Z/D')).toBe('D');
    expect(resolveCombined('Z/D')).toBe('D');
    expect(resolveCombined('X/Z/U*')).toBe('U');
    expect(resolveCombined('K')).toBe('K');
  });

  it('validates option names and names the field', () => {
    expect(normalizeOptions(['RETAIN_UIDS'])).toEqual(['BASIC_PROFILE', 'RETAIN_UIDS']);
    expect(() => normalizeOptions(['NOPE'])).toThrow(/profile.options: unknown option "NOPE"/);
    expect(() => normalizeOptions(['CLEAN_PIXEL_DATA'])).toThrow(/not supported/);
    expect(() =>
      normalizeOptions([
        'RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION',
        'RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES',
      ]),
    ).toThrow(/exclude each other/);
  });

  it('lists the CID 7050 codes of every option', () => {
    expect(Object.values(OPTIONS).map((o) => o.code)).toEqual([
      '113100',
      '113103',
      '113104',
      '113105',
      '113106',
      '113107',
      '113108',
      '113109',
      '113112',
      '113110',
      '113111',
    ]);
  });
});

describe('Table E.3.10-1 as data', () => {
  it('holds the safe private attributes with their creators', () => {
    const safe = safePrivateAttributes();
    expect(safe.length).toBe(130);
    expect(safe).toContainEqual(
      expect.objectContaining({ group: 0x0019, element: 0x23, creator: 'GEMS_ACQU_01', vr: 'DS' }),
    );
    expect(safe).toContainEqual(
      expect.objectContaining({ group: 0x7053, element: 0x00, creator: 'Philips PET Private Group' }),
    );
  });
});
