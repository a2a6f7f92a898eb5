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
  TABLE_EDITION,
  tableE11,
} from './profile.js';

const reference = new URL('../../../../shared/reference/ps3.15-table-E.1-1-2018d.csv', import.meta.url);

/** Rows whose actions changed between 2018d and the followed edition: `tag column 2018d→current`. */
const CHANGED_SINCE_2018D = [
  '(0070,0084) Basic Prof. Z→Z/D', // Content Creator's Name
  '(0040,A730) Basic Prof. X→D', // Content Sequence: kept with dummy values
  '(0400,0100) Basic Prof. X→U', // Digital Signature UID
  '(0020,3401) Rtn. Dev. Id. Opt. →K', // Modifying Device ID
  '(0010,0020) Basic Prof. Z→Z/D', // Patient ID
  '(0040,0241) Rtn. Dev. Id. Opt. K→C', // Performed Station AE Title
  '(0008,1120) Rtn. UIDs Opt. X→K', // Referenced Patient Sequence
  '(300E,0008) Basic Prof. X→X/Z', // Reviewer Name
  '(0040,0001) Rtn. Dev. Id. Opt. K→C', // Scheduled Station AE Title
  '(0032,1021) Rtn. Dev. Id. Opt. K→C', // Scheduled Study Location AE Title
  '(3008,0105) Basic Prof. X→X/Z', // Source Serial Number
  '(300A,00B2) Basic Prof. X→X/Z', // Treatment Machine Name: Type 2 in RT Beams
  '(0040,A027) Basic Prof. X→D', // Verifying Organization: Type 1 in its item
];

describe('Table E.1-1 as data', () => {
  it(`follows the ${TABLE_EDITION} edition: 656 rows with the action counts of its Basic Profile column`, () => {
    const rows = tableE11();
    expect(rows).toHaveLength(656);
    const counts: Record<string, number> = {};
    for (const row of rows)
      counts[row.actions[BASIC_COLUMN]!] = (counts[row.actions[BASIC_COLUMN]!] ?? 0) + 1;
    expect(counts).toEqual({
      X: 416,
      D: 93,
      U: 55,
      Z: 42,
      'X/D': 23,
      'X/Z': 11,
      'X/Z/D': 8,
      'Z/D': 6,
      'X/Z/U*': 2,
    });
    // One row per tag: the current edition lists no attribute twice.
    expect(new Set(rows.map((r) => r.tag)).size).toBe(rows.length);
  });

  it('keeps every 2018d row, with the actions 2018d gave it except the reviewed changes', () => {
    const current = new Map(tableE11().map((r) => [r.tag.toUpperCase(), r]));
    const changes: string[] = [];
    for (const old of tableE11('2018d')) {
      const now = current.get(old.tag.toUpperCase());
      expect(now, old.name).toBeDefined();
      for (const [column, code] of Object.entries(old.actions))
        if (now!.actions[column] !== code)
          changes.push(`${old.tag} ${column} ${code}→${now!.actions[column]}`);
    }
    // Reviewer Name and Source Serial Number were listed twice in 2018d (X/Z and X): both rows report.
    expect([...new Set(changes)].sort()).toEqual(
      [...CHANGED_SINCE_2018D, '(300E,0008) Basic Prof. X/Z→X/Z']
        .filter((c) => !c.endsWith('X/Z→X/Z'))
        .sort(),
    );
  });

  it('holds all 303 rows of the 2018d edition with the action counts of its Basic Profile column', () => {
    const rows = tableE11('2018d');
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

  it.runIf(existsSync(reference))('keeps 2018d as the reference extraction has it, row for row', () => {
    const lines = readFileSync(reference, 'utf8').split(/\r?\n/).filter(Boolean).slice(1);
    const rows = tableE11('2018d');
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
      else if (parsed.kind === 'exact') expect(actionFor(basic, parsed.tag), row.name).toBe(want);
      else expect(basic.masks.some((m) => m.action === want && m.mask === parsed.mask)).toBe(true);
      checked++;
    }
    expect(checked).toBe(656);
    // X/Z: a sequence among these keeps its items rather than being emptied (see the anonymizer).
    expect(basic.removableSequences.has(0x00081110)).toBe(true); // Referenced Study Sequence
    expect(basic.removableSequences.has(0x0040a088)).toBe(false); // Verifying Observer Identification Code Sequence: Z
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
        if (parsed.kind !== 'exact') continue;
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
