/**
 * Applies tag filters to a Part-10 file at the byte level: the file meta information and every kept element
 * are copied as they are (so encapsulated pixel data survives bit for bit and no value is re-encoded); only
 * the lengths of sequences and items that lose content are rewritten. Slicebox's order: the union of the
 * blacklists first, then the union of the whitelists.
 */
import { deflateRawSync } from 'node:zlib';
import { InvalidDicomError, SluiceError } from '../errors.js';
import { parseHeader, type DicomHeader } from './header.js';
import { splitPart10 } from './part10.js';
import { relation, tagOfKeyword, type PathStep, type TagTree } from './tag-path.js';
import {
  isSequenceTag,
  ITEM,
  ITEM_END,
  LONG_VRS,
  SEQUENCE_END,
  UNDEFINED_LENGTH as UNDEFINED,
} from './vr.js';

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

/** A parsed item: its byte range and elements (shared with src/dicom/modify.ts). */
export interface RawItem {
  start: number;
  end: number;
  undefinedLength: boolean;
  elements: RawElement[];
}
export interface RawElement {
  tag: number;
  start: number;
  end: number;
  /** Header bytes (tag, VR, length). */
  headerLength: number;
  /** Offset of the 4-byte length field, for sequences whose length is rewritten. */
  lengthOffset: number;
  undefinedLength: boolean;
  /** Present on sequences. */
  items?: RawItem[];
}

/** Walks a dataset's bytes into elements, sequences and items, recording byte ranges. */
export class Reader {
  constructor(
    readonly buf: Buffer,
    readonly explicit: boolean,
    readonly littleEndian: boolean,
  ) {}
  u16(o: number): number {
    return this.littleEndian ? this.buf.readUInt16LE(o) : this.buf.readUInt16BE(o);
  }
  u32(o: number): number {
    return this.littleEndian ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o);
  }
  tag(o: number): number {
    this.need(o, 4);
    return ((this.u16(o) << 16) | this.u16(o + 2)) >>> 0;
  }
  need(o: number, n: number): void {
    if (o + n > this.buf.length) throw new InvalidDicomError(`truncated at byte ${o}`);
  }

  /** Elements from `offset` up to `end`, or up to an item delimiter when `end` is undefined. */
  elements(offset: number, end: number | undefined, depth: number): { elements: RawElement[]; next: number } {
    if (depth > 64) throw new InvalidDicomError('sequences nested deeper than 64 levels');
    const elements: RawElement[] = [];
    for (;;) {
      if (end !== undefined && offset >= end) return { elements, next: offset };
      const tag = this.tag(offset);
      if (end === undefined && tag === ITEM_END) return { elements, next: offset + 8 };
      const element = this.element(offset, tag, depth);
      elements.push(element);
      offset = element.end;
    }
  }

  private element(offset: number, tag: number, depth: number): RawElement {
    this.need(offset, 8);
    let vr = '';
    let headerLength = 8;
    let lengthOffset = offset + 4;
    let length: number;
    if (this.explicit && tag >>> 16 !== 0xfffe) {
      vr = this.buf.toString('latin1', offset + 4, offset + 6);
      if (LONG_VRS.has(vr)) {
        this.need(offset, 12);
        headerLength = 12;
        lengthOffset = offset + 8;
        length = this.u32(offset + 8);
      } else {
        lengthOffset = -1;
        length = this.u16(offset + 6);
      }
    } else length = this.u32(offset + 4);
    const valueStart = offset + headerLength;
    const undefinedLength = length === UNDEFINED;
    const sequence = this.explicit
      ? vr === 'SQ'
      : isSequenceTag(tag) ||
        (undefinedLength && tag !== 0x7fe00010 && tag >>> 16 !== 0xfffe) ||
        this.looksLikeSequence(valueStart, length, depth);
    if (sequence) {
      const { items, next } = this.items(
        valueStart,
        undefinedLength ? undefined : valueStart + length,
        depth,
      );
      return { tag, start: offset, end: next, headerLength, lengthOffset, undefinedLength, items };
    }
    if (undefinedLength) {
      // Encapsulated pixel data or UN of undefined length: fragments of defined length up to the delimiter.
      let o = valueStart;
      for (;;) {
        const t = this.tag(o);
        this.need(o, 8);
        const len = this.u32(o + 4);
        if (t === SEQUENCE_END)
          return { tag, start: offset, end: o + 8, headerLength, lengthOffset, undefinedLength };
        if (t !== ITEM || len === UNDEFINED)
          throw new TagFilterError(`cannot walk undefined-length value of ${tag.toString(16)}`);
        this.need(o + 8, len);
        o += 8 + len;
      }
    }
    this.need(valueStart, length);
    return { tag, start: offset, end: valueStart + length, headerLength, lengthOffset, undefinedLength };
  }

  /**
   * Implicit VR data does not say which private elements are sequences: one whose value starts with an item
   * and parses as items is taken for a sequence (as DCMTK does).
   */
  private looksLikeSequence(valueStart: number, length: number, depth: number): boolean {
    if (length < 8 || length === UNDEFINED || valueStart + length > this.buf.length) return false;
    if (this.tag(valueStart) !== ITEM) return false;
    try {
      this.items(valueStart, valueStart + length, depth);
      return true;
    } catch {
      return false;
    }
  }

  private items(offset: number, end: number | undefined, depth: number): { items: RawItem[]; next: number } {
    const items: RawItem[] = [];
    for (;;) {
      if (end !== undefined && offset >= end) return { items, next: offset };
      const tag = this.tag(offset);
      this.need(offset, 8);
      const length = this.u32(offset + 4);
      if (tag === SEQUENCE_END) return { items, next: offset + 8 };
      if (tag !== ITEM) throw new InvalidDicomError(`unexpected (${tag.toString(16)}) inside a sequence`);
      if (length === UNDEFINED) {
        const { elements, next } = this.elements(offset + 8, undefined, depth + 1);
        items.push({ start: offset, end: next, undefinedLength: true, elements });
        offset = next;
      } else {
        this.need(offset + 8, length);
        const { elements } = this.elements(offset + 8, offset + 8 + length, depth + 1);
        items.push({ start: offset, end: offset + 8 + length, undefinedLength: false, elements });
        offset += 8 + length;
      }
    }
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
  reader: Reader,
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
    const reader = new Reader(dataset, explicit, littleEndian);
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
