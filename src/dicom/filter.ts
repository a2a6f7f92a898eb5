/**
 * Applies tag filters to a Part-10 file at the byte level: the file meta information and every kept element
 * are copied as they are (so encapsulated pixel data survives bit for bit and no value is re-encoded); only
 * the lengths of sequences and items that lose content are rewritten. Slicebox's order: the union of the
 * blacklists first, then the union of the whitelists.
 */
import { deflateRawSync } from 'node:zlib';
import { SluiceError } from '../errors.js';
import { parseHeader, type DicomHeader } from './header.js';
import { splitPart10 } from './part10.js';
import { relation, tagOfKeyword, type PathStep, type TagTree } from './tag-path.js';
import { DatasetWalker, type RawElement, type RawItem } from './walker.js';

export type TagFilterType = 'WHITELIST' | 'BLACKLIST';

/** A filter ready to apply: its type and its trees. */
export interface CompiledTagFilter {
  readonly name: string;
  readonly type: TagFilterType;
  readonly trees: readonly TagTree[];
}

/**
 * Kept by every whitelist at the top level: what the index needs to place an instance and what the storage
 * and viewers need to read its pixels. The file meta information is never filtered.
 */
export const ALWAYS_KEPT_KEYWORDS = [
  'SpecificCharacterSet',
  'SOPClassUID',
  'SOPInstanceUID',
  'StudyInstanceUID',
  'SeriesInstanceUID',
  'PatientName',
  'PatientID',
  'Modality',
  'SamplesPerPixel',
  'PhotometricInterpretation',
  'Rows',
  'Columns',
  'BitsAllocated',
  'BitsStored',
  'HighBit',
  'PixelRepresentation',
  'PlanarConfiguration',
  'NumberOfFrames',
  'PixelData',
] as const;
const ALWAYS_KEPT = new Set(ALWAYS_KEPT_KEYWORDS.map((k) => tagOfKeyword(k)!));

export class TagFilterError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FILTER.REWRITE_FAILED', `tag filter: ${message}`, 500, options);
  }
}

type Decision = 'keep' | 'drop' | 'descend';

/** What one pass (all blacklists, or all whitelists) does with an element or an item at `path`. */
function decide(type: TagFilterType, trees: readonly TagTree[], path: readonly PathStep[]): Decision {
  let ancestor = false;
  for (const tree of trees) {
    const r = relation(tree, path);
    if (r === 'covered') return type === 'BLACKLIST' ? 'drop' : 'keep';
    if (r === 'ancestor') ancestor = true;
  }
  if (ancestor) return 'descend';
  return type === 'BLACKLIST' ? 'keep' : 'drop';
}

/** One filter pass over a dataset's bytes; returns the new dataset bytes. */
function filterPass(
  reader: DatasetWalker,
  elements: RawElement[],
  type: TagFilterType,
  trees: readonly TagTree[],
  /** Bytes to put in front of the result (the file meta), saving a copy of the whole file. */
  prefix?: Buffer,
): Buffer {
  const { buf } = reader;
  const writeU32 = (target: Buffer, offset: number, value: number) =>
    reader.littleEndian ? target.writeUInt32LE(value, offset) : target.writeUInt32BE(value, offset);

  const filterElements = (list: RawElement[], parent: PathStep[]): Buffer[] => {
    const out: Buffer[] = [];
    for (const element of list) {
      // Group lengths would be wrong after filtering; they are retired and optional, so they go.
      if ((element.tag & 0xffff) === 0 && element.tag >>> 16 !== 0xfffe) continue;
      const path = [...parent, { tag: element.tag }];
      let decision = decide(type, trees, path);
      if (decision !== 'keep' && type === 'WHITELIST' && parent.length === 0 && ALWAYS_KEPT.has(element.tag))
        decision = 'keep';
      if (decision === 'drop') continue;
      if (!element.items) {
        // A tree leads into an element that is not a sequence: nothing inside it to keep or remove.
        if (decision === 'keep' || type === 'BLACKLIST') out.push(buf.subarray(element.start, element.end));
        continue;
      }
      if (decision === 'keep') {
        out.push(buf.subarray(element.start, element.end));
        continue;
      }
      const items: Buffer[] = [];
      element.items.forEach((item, i) => {
        const itemPath = [...parent, { tag: element.tag, item: i + 1 }];
        const d = decide(type, trees, itemPath);
        if (d === 'keep') items.push(buf.subarray(item.start, item.end));
        // A whitelisted item outside every tree stays as an empty item, so later items keep their numbers.
        else if (d === 'descend' || type === 'WHITELIST')
          items.push(rebuild(item, d === 'descend' ? filterElements(item.elements, itemPath) : []));
      });
      out.push(rebuildSequence(element, items));
    }
    return out;
  };
  const rebuild = (item: RawItem, content: Buffer[]): Buffer => {
    const header = Buffer.from(buf.subarray(item.start, item.start + 8));
    if (item.undefinedLength)
      return Buffer.concat([header, ...content, buf.subarray(item.end - 8, item.end)]);
    writeU32(
      header,
      4,
      content.reduce((n, b) => n + b.length, 0),
    );
    return Buffer.concat([header, ...content]);
  };
  const rebuildSequence = (element: RawElement, items: Buffer[]): Buffer => {
    const header = Buffer.from(buf.subarray(element.start, element.start + element.headerLength));
    if (element.undefinedLength)
      return Buffer.concat([header, ...items, buf.subarray(element.end - 8, element.end)]);
    writeU32(
      header,
      element.lengthOffset - element.start,
      items.reduce((n, b) => n + b.length, 0),
    );
    return Buffer.concat([header, ...items]);
  };
  const parts = filterElements(elements, []);
  return Buffer.concat(prefix ? [prefix, ...parts] : parts);
}

/**
 * Applies the filters to a Part-10 file and checks the result reads back. Returns the new bytes and their
 * header, or undefined when there is nothing to apply.
 */
export function applyTagFilters(
  file: Buffer,
  filters: readonly CompiledTagFilter[],
  /** The file's header when the caller has it already (parsed at ingest). */
  known?: Pick<DicomHeader, 'transferSyntaxUid'>,
): { bytes: Buffer; header: DicomHeader } | undefined {
  const blacklist = filters.filter((f) => f.type === 'BLACKLIST').flatMap((f) => f.trees);
  const whitelist = filters.filter((f) => f.type === 'WHITELIST').flatMap((f) => f.trees);
  const whitelisting = filters.some((f) => f.type === 'WHITELIST');
  if (!blacklist.length && !whitelisting) return undefined;

  const header = known ?? parseHeader(file);
  const part10 = splitPart10(file, header.transferSyntaxUid);
  const { meta, deflated, explicit, littleEndian } = part10;
  let dataset = part10.dataset;

  // The last pass writes the file meta in front of its output (unless the dataset is deflated afterwards),
  // so the whole file is copied once per pass and not once more at the end.
  let bytes: Buffer | undefined;
  const pass = (type: TagFilterType, trees: readonly TagTree[], last: boolean) => {
    const reader = new DatasetWalker(dataset, explicit, littleEndian);
    const elements = reader.elements(0, dataset.length, 0).elements;
    if (last && !deflated) {
      bytes = filterPass(reader, elements, type, trees, meta);
      dataset = bytes.subarray(meta.length);
    } else dataset = filterPass(reader, elements, type, trees);
  };
  // A whitelist without trees still applies: it keeps only the always-kept attributes (Slicebox: nothing).
  if (blacklist.length) pass('BLACKLIST', blacklist, !whitelisting);
  if (whitelisting) pass('WHITELIST', whitelist, true);
  bytes ??= Buffer.concat([meta, deflated ? deflateRawSync(dataset) : dataset]);
  try {
    return { bytes, header: parseHeader(bytes) };
  } catch (err) {
    throw new TagFilterError(`the filtered instance does not read back: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
