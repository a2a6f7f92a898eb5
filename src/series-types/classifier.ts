/**
 * Series type classification. A type applies to a series when any of its rules matches one of its
 * instances' headers; a rule matches when all of its attributes match (a rule without attributes matches
 * everything, as in Slicebox). An attribute compares the element's value with `values` by its operator:
 *
 * | operator      | matches when                                                                  |
 * |---------------|-------------------------------------------------------------------------------|
 * | `equals`      | the value, multiple values joined with `\`, equals `values` (Slicebox's rule) |
 * | `contains`    | the joined value contains `values`                                            |
 * | `starts_with` | the joined value starts with `values`                                         |
 * | `regex`       | the regular expression `values` (with `flags`) finds a match in the joined value |
 * | `<`, `>`      | one of the values is less / greater: numerically when both parse as numbers   |
 * | `range`       | one of the values is a number within `values` = `lo,hi` (inclusive)           |
 *
 * A missing or empty element never matches.
 *
 * @example
 * const classify = compileSeriesTypes([{ id: 1, name: 'CT thin', rules: [{ attributes: [
 *   { tag: 0x00080060, values: 'CT' }, { tag: 0x00180050, operator: '<', values: '2' }] }] }]);
 * classify(header); // → [1] for a CT with SliceThickness 1.0
 */
import dcmjs from 'dcmjs';
import type { DicomDataset, DicomElement, DicomHeader } from '../dicom/header.js';
import type { AttributeOperator } from './store.js';

const { DicomMetaDictionary } = dcmjs.data;

export const ATTRIBUTE_OPERATORS = [
  'equals',
  'contains',
  'starts_with',
  'regex',
  '<',
  '>',
  'range',
] as const satisfies readonly AttributeOperator[];

/** What classification needs of an attribute (a stored one or one from a pipeline file). */
export interface AttributeSpec {
  tag: number;
  /** Comma-separated decimal sequence tags to descend into, item 1 of each; null or '' for the root. */
  tagPath?: string | null;
  operator?: AttributeOperator;
  values: string;
  flags?: string;
}
export interface SeriesTypeSpec {
  id: number;
  name: string;
  rules: ReadonlyArray<{ attributes: readonly AttributeSpec[] }>;
}

/** A header → the ids of the types that apply, in the order given. */
export type SeriesClassifier = (header: Pick<DicomHeader, 'dataset'>) => number[];

/** The tag number of a dictionary keyword, or undefined when it is not one. */
export function tagOfKeyword(keyword: string): number | undefined {
  const tag = DicomMetaDictionary.nameMap[keyword]?.tag as string | undefined;
  return tag ? parseInt(tag.replace(/[(),]/g, ''), 16) : undefined;
}

/** The dictionary keyword of a tag number, or '' when it has none. */
export function keywordOfTag(tag: number): string {
  const key = `(${hex(tag >>> 16)},${hex(tag & 0xffff)})`;
  return (DicomMetaDictionary.dictionary[key]?.name as string | undefined) ?? '';
}

const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
const datasetKey = (tag: number) => hex(tag >>> 16) + hex(tag & 0xffff);

function elementValues(el: DicomElement | undefined): string[] | undefined {
  if (!el?.Value?.length) return undefined;
  const values = el.Value.map((v) =>
    typeof v === 'object' && v !== null && 'Alphabetic' in v
      ? String((v as { Alphabetic: string }).Alphabetic)
      : String(v).trim(),
  );
  return values.join('').trim() === '' ? undefined : values;
}

/** Slicebox descends into item 1 of each sequence on the path, and falls back to the root when it can't. */
function datasetAt(root: DicomDataset, tagPath: string | null | undefined): DicomDataset {
  if (!tagPath) return root;
  let dataset = root;
  for (const part of tagPath.split(',')) {
    const item = dataset[datasetKey(Number(part.trim()))]?.Value?.[0];
    if (!item || typeof item !== 'object') return root;
    dataset = item as DicomDataset;
  }
  return dataset;
}

const asNumber = (text: string): number | undefined => {
  const trimmed = text.trim();
  const n = Number(trimmed);
  return trimmed !== '' && Number.isFinite(n) ? n : undefined;
};

function compare(value: string, operand: string): number {
  const a = asNumber(value);
  const b = asNumber(operand);
  if (a !== undefined && b !== undefined) return a - b;
  return value < operand ? -1 : value > operand ? 1 : 0;
}

/** The bounds of a `range` operand, or a reason why it is not one. */
export function parseRange(values: string): { lo: number; hi: number } | string {
  const parts = values.split(',');
  const [lo, hi] = parts.map(asNumber);
  if (parts.length !== 2 || lo === undefined || hi === undefined)
    return `range needs "lo,hi" with two numbers, got "${values}"`;
  if (lo > hi) return `range "${values}" has lo greater than hi`;
  return { lo, hi };
}

/** Why an attribute cannot be evaluated (bad regex, bad range), or undefined when it can. */
export function attributeProblem(
  spec: Pick<AttributeSpec, 'operator' | 'values' | 'flags'>,
): string | undefined {
  if (spec.flags && spec.operator !== 'regex') return 'flags apply to operator regex only';
  if (spec.operator === 'regex') {
    if (spec.flags && !/^[imsu]*$/.test(spec.flags))
      return `flags must be among i, m, s, u, got "${spec.flags}"`;
    try {
      new RegExp(spec.values, spec.flags || undefined);
    } catch (err) {
      return `invalid regular expression: ${(err as Error).message}`;
    }
  }
  if (spec.operator === 'range') {
    const range = parseRange(spec.values);
    if (typeof range === 'string') return range;
  }
  return undefined;
}

/** Compiles one attribute into a predicate on a dataset; regexes are compiled once here. */
export function compileAttribute(spec: AttributeSpec): (root: DicomDataset) => boolean {
  const problem = attributeProblem(spec);
  if (problem) throw new Error(problem);
  const key = datasetKey(spec.tag);
  const read = (root: DicomDataset) => elementValues(datasetAt(root, spec.tagPath)[key]);
  const operand = spec.values;
  switch (spec.operator ?? 'equals') {
    case 'equals':
      return (root) => read(root)?.join('\\') === operand;
    case 'contains':
      return (root) => read(root)?.join('\\').includes(operand) ?? false;
    case 'starts_with':
      return (root) => read(root)?.join('\\').startsWith(operand) ?? false;
    case 'regex': {
      // No `g` or `y` flag (refused above), so test() keeps no state between calls.
      const re = new RegExp(operand, spec.flags || undefined);
      return (root) => {
        const values = read(root);
        return values !== undefined && re.test(values.join('\\'));
      };
    }
    case '<':
      return (root) => read(root)?.some((v) => compare(v, operand) < 0) ?? false;
    case '>':
      return (root) => read(root)?.some((v) => compare(v, operand) > 0) ?? false;
    case 'range': {
      const { lo, hi } = parseRange(operand) as { lo: number; hi: number };
      return (root) =>
        read(root)?.some((v) => {
          const n = asNumber(v);
          return n !== undefined && n >= lo && n <= hi;
        }) ?? false;
    }
  }
}

/** Compiles types into a classifier; an attribute that cannot be evaluated throws here, not per instance. */
export function compileSeriesTypes(types: readonly SeriesTypeSpec[]): SeriesClassifier {
  const compiled = types.map((type) => ({
    id: type.id,
    rules: type.rules.map((rule) => rule.attributes.map(compileAttribute)),
  }));
  return (header) =>
    compiled
      .filter((type) => type.rules.some((rule) => rule.every((matches) => matches(header.dataset))))
      .map((type) => type.id);
}
