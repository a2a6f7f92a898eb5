/**
 * DICOM PS3.15 Annex E as data: Table E.1-1 (what the Basic Application Level Confidentiality Profile and
 * each option do with each attribute) and Table E.3.10-1 (safe private attributes), both kept as CSV files
 * beside this one so they are reviewed apart from the code. This module parses them once and compiles, per
 * set of options, the action that applies to each tag.
 */
import { readFileSync } from 'node:fs';
import { BadRequestError } from '../../errors.js';

/** Action codes of Table E.1-1, combined codes included. */
export type ActionCode = 'X' | 'Z' | 'D' | 'K' | 'C' | 'U' | 'Z/D' | 'X/Z' | 'X/D' | 'X/Z/D' | 'X/Z/U*';
/** What the engine does, once a combined code is resolved (see resolveCombined). */
export type Action = 'X' | 'Z' | 'D' | 'K' | 'C' | 'U';

export const ACTION_CODES: readonly ActionCode[] = [
  'X',
  'Z',
  'D',
  'K',
  'C',
  'U',
  'Z/D',
  'X/Z',
  'X/D',
  'X/Z/D',
  'X/Z/U*',
];

/**
 * Combined codes choose by the attribute's type in the IOD (PS3.15 E.1.1). We carry no per-IOD module
 * tables, so a present attribute gets the alternative that is valid whatever its type: Z/D and X/D and
 * X/Z/D a dummy (a Type 1 attribute stays valid), X/Z a zero-length value, X/Z/U* the sequence kept with
 * its instance UIDs replaced. None of them keeps an identifying value.
 */
export function resolveCombined(code: ActionCode): Action {
  switch (code) {
    case 'Z/D':
    case 'X/D':
    case 'X/Z/D':
      return 'D';
    case 'X/Z':
      return 'Z';
    case 'X/Z/U*':
      return 'U';
    default:
      return code;
  }
}

/** Slicebox's option names (AnonymizationProfile JSON), with the PS3.16 CID 7050 codes and ranks. */
export interface ConfidentialityOption {
  name: OptionName;
  title: string;
  /** The code meaning in CID 7050 (at most 64 characters: it is also a DeidentificationMethod value). */
  description: string;
  /** Slicebox's rank: where options disagree on a tag, the highest rank wins. */
  rank: number;
  /** CID 7050 code value (coding scheme DCM). */
  code: string;
  /** Column of Table E.1-1, absent for the profile itself. */
  column?: string;
}

export const OPTION_NAMES = [
  'BASIC_PROFILE',
  'CLEAN_GRAPHICS',
  'CLEAN_STRUCTURED_CONTENT',
  'CLEAN_DESCRIPTORS',
  'RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION',
  'RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES',
  'RETAIN_PATIENT_CHARACTERISTICS',
  'RETAIN_DEVICE_IDENTITY',
  'RETAIN_INSTITUTION_IDENTITY',
  'RETAIN_UIDS',
  'RETAIN_SAFE_PRIVATE',
] as const;
export type OptionName = (typeof OPTION_NAMES)[number];

/** Options we refuse: they need pixel data to be inspected, which we do not do. */
export const UNSUPPORTED_OPTIONS = ['CLEAN_PIXEL_DATA', 'CLEAN_RECOGNIZABLE_VISUAL_FEATURES'] as const;

export const OPTIONS: Readonly<Record<OptionName, ConfidentialityOption>> = {
  BASIC_PROFILE: {
    name: 'BASIC_PROFILE',
    title: 'Basic Profile',
    description: 'Basic Application Confidentiality Profile',
    rank: 10,
    code: '113100',
  },
  CLEAN_GRAPHICS: {
    name: 'CLEAN_GRAPHICS',
    title: 'Clean Graphics',
    description: 'Clean Graphics Option',
    rank: 40,
    code: '113103',
    column: 'Clean Graph. Opt.',
  },
  CLEAN_STRUCTURED_CONTENT: {
    name: 'CLEAN_STRUCTURED_CONTENT',
    title: 'Clean Structured Content',
    description: 'Clean Structured Content Option',
    rank: 50,
    code: '113104',
    column: 'Clean Struct. Cont. Opt.',
  },
  CLEAN_DESCRIPTORS: {
    name: 'CLEAN_DESCRIPTORS',
    title: 'Clean Descriptors',
    description: 'Clean Descriptors Option',
    rank: 60,
    code: '113105',
    column: 'Clean Desc. Opt.',
  },
  RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION: {
    name: 'RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION',
    title: 'Retain Longitudinal With Full Dates',
    description: 'Retain Longitudinal Temporal Information Full Dates Option',
    rank: 70,
    code: '113106',
    column: 'Rtn. Long. Full Dates Opt.',
  },
  RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES: {
    name: 'RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES',
    title: 'Retain Longitudinal With Modified Dates',
    description: 'Retain Longitudinal Temporal Information Modified Dates Option',
    rank: 80,
    code: '113107',
    column: 'Rtn. Long. Modif. Dates Opt.',
  },
  RETAIN_PATIENT_CHARACTERISTICS: {
    name: 'RETAIN_PATIENT_CHARACTERISTICS',
    title: 'Retain Patient Characteristics',
    description: 'Retain Patient Characteristics Option',
    rank: 90,
    code: '113108',
    column: 'Rtn. Pat. Chars. Opt.',
  },
  RETAIN_DEVICE_IDENTITY: {
    name: 'RETAIN_DEVICE_IDENTITY',
    title: 'Retain Device Identity',
    description: 'Retain Device Identity Option',
    rank: 100,
    code: '113109',
    column: 'Rtn. Dev. Id. Opt.',
  },
  RETAIN_INSTITUTION_IDENTITY: {
    name: 'RETAIN_INSTITUTION_IDENTITY',
    title: 'Retain Institution Identity',
    description: 'Retain Institution Identity Option',
    rank: 110,
    code: '113112',
    column: 'Rtn. Inst. Id. Opt.',
  },
  RETAIN_UIDS: {
    name: 'RETAIN_UIDS',
    title: 'Retain UIDs',
    description: 'Retain UIDs Option',
    rank: 120,
    code: '113110',
    column: 'Rtn. UIDs Opt.',
  },
  RETAIN_SAFE_PRIVATE: {
    name: 'RETAIN_SAFE_PRIVATE',
    title: 'Retain Safe Private',
    description: 'Retain Safe Private Option',
    rank: 130,
    code: '113111',
    column: 'Rtn. Safe Priv. Opt.',
  },
};

/** Column of Table E.1-1 holding the Basic Profile. */
export const BASIC_COLUMN = 'Basic Prof.';

/** One row of Table E.1-1 as it stands in the CSV. */
export interface TableRow {
  name: string;
  /** `(0010,0010)`, `(50xx,xxxx)`, `(60xx,4000)` or the private-attributes text. */
  tag: string;
  /** Action code per column header, '' where the column says nothing. */
  actions: Readonly<Record<string, ActionCode | ''>>;
}

/** Splits one CSV line (RFC 4180 quoting, no embedded newlines in these tables). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(field);
      field = '';
    } else field += ch;
  }
  out.push(field);
  return out;
}

function readCsv(file: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(new URL(file, import.meta.url), 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  const [head, ...rest] = lines;
  return { header: splitCsvLine(head!), rows: rest.map(splitCsvLine) };
}

/**
 * The editions of Table E.1-1 kept as data. The engine follows the current one; 2018d (the edition Slicebox
 * generated its profiles from) stays beside it as the floor the current one is checked against.
 */
export const TABLE_FILES = {
  '2026c': './table-e1-1-2026c.csv',
  '2018d': './table-e1-1-2018d.csv',
} as const;
export type TableEdition = keyof typeof TABLE_FILES;

/** The edition of Table E.1-1 the engine follows. */
export const TABLE_EDITION: TableEdition = '2026c';

/** The action columns of Table E.1-1, by their header in the standard. */
const ACTION_COLUMNS = [BASIC_COLUMN, ...OPTION_NAMES.flatMap((o) => OPTIONS[o].column ?? [])];

const tables = new Map<TableEdition, TableRow[]>();

/** Every row of Table E.1-1 of an edition (the followed one by default), in the standard's order. */
export function tableE11(edition: TableEdition = TABLE_EDITION): readonly TableRow[] {
  const hit = tables.get(edition);
  if (hit) return hit;
  const { header, rows } = readCsv(TABLE_FILES[edition]);
  const at = (column: string) => {
    const i = header.indexOf(column);
    if (i < 0) throw new Error(`table E.1-1 ${edition}: no column "${column}"`);
    return i;
  };
  const nameAt = at('Attribute Name');
  const tagAt = at('Tag');
  for (const column of ACTION_COLUMNS) at(column);
  const columns = header.flatMap((column, index) =>
    ACTION_COLUMNS.includes(column) ? [{ column, index }] : [],
  );
  const table = rows.map((cells, i) => {
    if (cells.length !== header.length)
      throw new Error(
        `table E.1-1 ${edition} line ${i + 2}: ${cells.length} cells, expected ${header.length}`,
      );
    const actions: Record<string, ActionCode | ''> = {};
    for (const { column, index } of columns) {
      const code = cells[index]!.trim();
      if (code !== '' && !ACTION_CODES.includes(code as ActionCode))
        throw new Error(`table E.1-1 ${edition} line ${i + 2}: unknown action "${code}" in ${column}`);
      actions[column] = code as ActionCode | '';
    }
    return { name: cells[nameAt]!, tag: cells[tagAt]!, actions };
  });
  tables.set(edition, table);
  return table;
}

/** A safe private attribute of Table E.3.10-1: `(group, creator, element byte)`. */
export interface SafePrivate {
  group: number;
  /** Low byte of the element (the `ee` of `gggg,xxee`). */
  element: number;
  creator: string;
  vr: string;
  meaning: string;
}

let safe: SafePrivate[] | undefined;

export function safePrivateAttributes(): readonly SafePrivate[] {
  if (safe) return safe;
  const { rows } = readCsv('./safe-private-e3-10-1.csv');
  safe = rows.map((cells, i) => {
    const [group, element, creator, vr, , meaning] = cells;
    if (!/^[0-9A-F]{4}$/i.test(group ?? '') || !/^xx[0-9A-F]{2}$/i.test(element ?? '') || !creator)
      throw new Error(`table E.3.10-1 line ${i + 2} is malformed`);
    return {
      group: parseInt(group!, 16),
      element: parseInt(element!.slice(2), 16),
      creator,
      vr: vr ?? '',
      meaning: meaning ?? '',
    };
  });
  return safe;
}

/** A tag or a mask: `mask` bits must equal `value`. */
interface MaskRule {
  mask: number;
  value: number;
  action: Action;
  name: string;
}

/** What a profile does, ready for the engine. */
export interface CompiledProfile {
  readonly options: readonly OptionName[];
  /** Exact tags → action. */
  readonly exact: ReadonlyMap<number, Action>;
  /** Tag masks (`50xx,xxxx`, `60xx,4000`, `60xx,3000`) → action. */
  readonly masks: readonly MaskRule[];
  /** Action on private attributes (odd groups) not kept as safe: 'X', or 'C' with Retain Safe Private. */
  readonly privateAction: Action;
  readonly modifiedDates: boolean;
  readonly fullDates: boolean;
  /** Safe private attributes by `group:creator:element`. */
  readonly safePrivate: ReadonlySet<string>;
  /** Tags whose code is X/Z: a sequence among them keeps its items (with dummies) rather than emptied. */
  readonly removableSequences: ReadonlySet<number>;
}

export function safePrivateKey(group: number, creator: string, element: number): string {
  return `${group.toString(16).padStart(4, '0')}:${creator.trim().toUpperCase()}:${element}`;
}

/**
 * Validates option names (Slicebox JSON `{ options: [{ name }] }` or plain names) and answers them with
 * BASIC_PROFILE first, in rank order. Errors name the offending option.
 */
export function normalizeOptions(names: readonly string[], field = 'profile.options'): OptionName[] {
  const set = new Set<OptionName>(['BASIC_PROFILE']);
  for (const name of names) {
    if ((UNSUPPORTED_OPTIONS as readonly string[]).includes(name))
      throw new BadRequestError(
        `${field}: ${name} is not supported (it needs the pixel data inspected, which Sluice does not do)`,
      );
    if (!(OPTION_NAMES as readonly string[]).includes(name))
      throw new BadRequestError(`${field}: unknown option "${name}"; known: ${OPTION_NAMES.join(', ')}`);
    set.add(name as OptionName);
  }
  if (
    set.has('RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION') &&
    set.has('RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES')
  )
    throw new BadRequestError(
      `${field}: RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION and RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES exclude each other`,
    );
  return [...set].sort((a, b) => OPTIONS[a].rank - OPTIONS[b].rank);
}

const compiled = new Map<string, CompiledProfile>();

/** Compiles the table for a set of options (cached per set). */
export function compileProfile(names: readonly string[]): CompiledProfile {
  const options = normalizeOptions(names);
  const cacheKey = options.join(',');
  const hit = compiled.get(cacheKey);
  if (hit) return hit;
  // Highest rank first: the first option with something to say about a row decides (Slicebox's rule; the
  // standard says an option overrides the profile, and no two options disagree except the exclusive dates).
  const columns = options
    .filter((o) => o !== 'BASIC_PROFILE')
    .sort((a, b) => OPTIONS[b].rank - OPTIONS[a].rank)
    .map((o) => OPTIONS[o].column!);
  const exact = new Map<number, Action>();
  const removableSequences = new Set<number>();
  const masks: MaskRule[] = [];
  let privateAction: Action = 'X';
  for (const row of tableE11()) {
    const code = columns.map((c) => row.actions[c]).find((a) => a) || row.actions[BASIC_COLUMN];
    if (!code) throw new Error(`table E.1-1: ${row.name} has no Basic Profile action`);
    const action = resolveCombined(code);
    const parsed = parseTableTag(row.tag);
    if (parsed.kind === 'private') privateAction = action;
    else if (parsed.kind === 'exact') {
      exact.set(parsed.tag, action);
      if (code === 'X/Z') removableSequences.add(parsed.tag);
      else removableSequences.delete(parsed.tag);
    } else masks.push({ mask: parsed.mask, value: parsed.value, action, name: row.name });
  }
  const profile: CompiledProfile = {
    options,
    exact,
    masks,
    privateAction,
    modifiedDates: options.includes('RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES'),
    fullDates: options.includes('RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION'),
    safePrivate: new Set(
      options.includes('RETAIN_SAFE_PRIVATE')
        ? safePrivateAttributes().map((s) => safePrivateKey(s.group, s.creator, s.element))
        : [],
    ),
    removableSequences,
  };
  compiled.set(cacheKey, profile);
  return profile;
}

export type ParsedTableTag =
  { kind: 'exact'; tag: number } | { kind: 'mask'; mask: number; value: number } | { kind: 'private' };

/** `(0010,0010)` → exact; `(50xx,xxxx)` → mask; the private-attributes row → private. */
export function parseTableTag(text: string): ParsedTableTag {
  if (/^\(gggg,eeee\)/.test(text)) return { kind: 'private' };
  const m = /^\(([0-9A-Fx]{4}),([0-9A-Fx]{4})\)$/.exec(text);
  if (!m) throw new Error(`table E.1-1: cannot read tag "${text}"`);
  const hex = m[1]! + m[2]!;
  if (!hex.includes('x')) return { kind: 'exact', tag: parseInt(hex, 16) >>> 0 };
  let mask = 0;
  let value = 0;
  for (const ch of hex) {
    mask = mask * 16 + (ch === 'x' ? 0 : 15);
    value = value * 16 + (ch === 'x' ? 0 : parseInt(ch, 16));
  }
  return { kind: 'mask', mask: mask >>> 0, value: value >>> 0 };
}

/** The action for a public tag (undefined when the table says nothing: the attribute is kept). */
export function actionFor(profile: CompiledProfile, tag: number): Action | undefined {
  const exact = profile.exact.get(tag);
  if (exact) return exact;
  for (const rule of profile.masks) if ((tag & rule.mask) >>> 0 === rule.value) return rule.action;
  return undefined;
}
