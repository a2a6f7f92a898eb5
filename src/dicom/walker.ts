/**
 * The one walk over a dataset's bytes: element headers, sequences, items and encapsulated fragments, every
 * declared length checked against the buffer and against the item or sequence that holds it before it is
 * trusted, nesting bounded (MAX_DEPTH). Readers that rewrite a dataset (tag filters, modification,
 * de-identification, transcoding) take its tree of byte ranges; `walkDataset` proves a received dataset
 * up to its pixel data before anything else (dcmjs) reads it.
 */
import { InvalidDicomError } from '../errors.js';
import {
  isSequenceTag,
  ITEM,
  ITEM_END,
  KNOWN_VRS,
  LONG_VRS,
  PIXEL_DATA,
  SEQUENCE_END,
  UNDEFINED_LENGTH,
} from './vr.js';

/** A parsed item: its byte range and elements. */
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
  /**
   * A sequence received as UN (PS3.5 6.2.2): its items are in implicit VR little endian, whatever the
   * dataset's transfer syntax. Only with the walker's `unknownSequences` option.
   */
  implicitItems?: boolean;
}

/** An element's header as it is in the bytes. */
export interface ElementHeader {
  tag: number;
  /** The VR in explicit syntaxes; '' in implicit ones and on item and delimiter tags. */
  vr: string;
  headerLength: number;
  /** Offset of the 4-byte length field, or -1 when the length has 2 bytes. */
  lengthOffset: number;
  length: number;
}

/** The value bytes of one fragment of an encapsulated value. */
export interface Fragment {
  start: number;
  end: number;
}

const MAX_DEPTH = 64;

const tagName = (t: number) =>
  `(${(t >>> 16).toString(16).padStart(4, '0')},${(t & 0xffff).toString(16).padStart(4, '0')})`;

const isUpperCase = (byte: number | undefined) => byte !== undefined && byte >= 0x41 && byte <= 0x5a;

export class DatasetWalker {
  constructor(
    readonly buf: Buffer,
    readonly explicit: boolean,
    readonly littleEndian: boolean,
    /**
     * Refuse an explicit VR element whose VR is not one of PS3.5's (data that says explicit but is
     * implicit, or corrupt: other readers would take its length differently); without it such a VR is
     * read as one with a 2-byte length, as readers of stored files always have.
     */
    private readonly options: {
      requireVr?: boolean;
      /**
       * Walk a UN element that holds a sequence as one (PS3.5 6.2.2): a UN of undefined length, or one whose
       * tag the dictionary knows as SQ and whose value parses as items. Without it, such an element is a
       * plain value (and one of undefined length is refused).
       */
      unknownSequences?: boolean;
    } = {},
  ) {}

  private u16(o: number): number {
    return this.littleEndian ? this.buf.readUInt16LE(o) : this.buf.readUInt16BE(o);
  }
  private u32(o: number): number {
    return this.littleEndian ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o);
  }

  private need(offset: number, n: number, what: string): void {
    if (offset + n > this.buf.length)
      throw new InvalidDicomError(
        `truncated: ${what} at byte ${offset} needs ${n} bytes, only ${this.buf.length - offset} remain`,
      );
  }

  /** Where a value of `length` bytes from `valueStart` ends, once it is known to fit. */
  private valueEnd(tag: number, valueStart: number, length: number): number {
    if (length > this.buf.length - valueStart)
      throw new InvalidDicomError(
        `element ${tagName(tag)} declares ${length} bytes but only ${this.buf.length - valueStart} remain (truncated or corrupt)`,
      );
    return valueStart + length;
  }

  /** The header of the element (or item, or delimiter) at `offset`. */
  header(offset: number): ElementHeader {
    this.need(offset, 8, 'element header');
    const tag = ((this.u16(offset) << 16) | this.u16(offset + 2)) >>> 0;
    if (!this.explicit || tag >>> 16 === 0xfffe)
      return { tag, vr: '', headerLength: 8, lengthOffset: offset + 4, length: this.u32(offset + 4) };
    if (this.options.requireVr && !(isUpperCase(this.buf[offset + 4]) && isUpperCase(this.buf[offset + 5])))
      throw new InvalidDicomError(`element ${tagName(tag)} has no valid VR`);
    const vr = this.buf.toString('latin1', offset + 4, offset + 6);
    if (this.options.requireVr && !KNOWN_VRS.has(vr))
      throw new InvalidDicomError(`element ${tagName(tag)} at byte ${offset} has an unknown VR "${vr}"`);
    if (!LONG_VRS.has(vr))
      return { tag, vr, headerLength: 8, lengthOffset: -1, length: this.u16(offset + 6) };
    this.need(offset, 12, `element ${tagName(tag)} header`);
    return { tag, vr, headerLength: 12, lengthOffset: offset + 8, length: this.u32(offset + 8) };
  }

  /** Elements from `offset` up to `end`, or up to (and past) an item delimiter when `end` is undefined. */
  elements(offset: number, end: number | undefined, depth: number): { elements: RawElement[]; next: number } {
    if (depth > MAX_DEPTH) throw new InvalidDicomError(`sequences nested deeper than ${MAX_DEPTH} levels`);
    const elements: RawElement[] = [];
    for (;;) {
      if (end !== undefined && offset >= end) return { elements, next: offset };
      const header = this.header(offset);
      if (end === undefined && header.tag === ITEM_END) return { elements, next: offset + 8 };
      const element = this.element(offset, header, depth);
      if (end !== undefined && element.end > end)
        throw new InvalidDicomError(
          `element ${tagName(header.tag)} at byte ${offset} runs ${element.end - end} bytes past the end of the item that holds it`,
        );
      elements.push(element);
      offset = element.end;
    }
  }

  /** The element at `offset` with its whole tree (a top-level element). */
  walkElement(offset: number): RawElement {
    return this.element(offset, this.header(offset), 0);
  }

  private element(offset: number, header: ElementHeader, depth: number): RawElement {
    const { tag, headerLength, lengthOffset, length } = header;
    const valueStart = offset + headerLength;
    const undefinedLength = length === UNDEFINED_LENGTH;
    const implicit = this.unknownSequence(header, valueStart, depth);
    if (implicit) {
      const valueEnd = undefinedLength ? undefined : this.valueEnd(tag, valueStart, length);
      const { items, next } = implicit.items(valueStart, valueEnd, depth);
      return {
        tag,
        start: offset,
        end: next,
        headerLength,
        lengthOffset,
        undefinedLength,
        items,
        implicitItems: true,
      };
    }
    if (this.isSequence(header, valueStart, depth)) {
      const valueEnd = undefinedLength ? undefined : this.valueEnd(tag, valueStart, length);
      const { items, next } = this.items(valueStart, valueEnd, depth);
      return { tag, start: offset, end: next, headerLength, lengthOffset, undefinedLength, items };
    }
    const end = undefinedLength ? this.fragments(valueStart, tag) : this.valueEnd(tag, valueStart, length);
    return { tag, start: offset, end, headerLength, lengthOffset, undefinedLength };
  }

  /** A walker for the implicit VR little endian items of a UN element that holds a sequence, if it does. */
  private unknownSequence(
    header: ElementHeader,
    valueStart: number,
    depth: number,
  ): DatasetWalker | undefined {
    if (!this.options.unknownSequences || !this.explicit || header.vr !== 'UN') return undefined;
    const implicit = new DatasetWalker(this.buf, false, true, this.options);
    if (header.length === UNDEFINED_LENGTH) return implicit;
    if (header.tag >>> 16 === 0xfffe || !isSequenceTag(header.tag)) return undefined;
    return implicit.looksLikeSequence(valueStart, header.length, depth) ? implicit : undefined;
  }

  private isSequence(header: ElementHeader, valueStart: number, depth: number): boolean {
    if (this.explicit) return header.vr === 'SQ';
    const { tag, length } = header;
    if (length === UNDEFINED_LENGTH) return tag !== PIXEL_DATA && tag >>> 16 !== 0xfffe;
    return isSequenceTag(tag) || this.looksLikeSequence(valueStart, length, depth);
  }

  /**
   * Implicit VR data does not say which private elements are sequences: one whose value starts with an item
   * and parses as items is taken for a sequence (as DCMTK does).
   */
  private looksLikeSequence(valueStart: number, length: number, depth: number): boolean {
    if (length < 8 || length === UNDEFINED_LENGTH || valueStart + length > this.buf.length) return false;
    if (((this.u16(valueStart) << 16) | this.u16(valueStart + 2)) >>> 0 !== ITEM) return false;
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
      const length = this.itemLength(offset);
      if (length === undefined) return { items, next: offset + 8 };
      if (length === UNDEFINED_LENGTH) {
        const { elements, next } = this.elements(offset + 8, undefined, depth + 1);
        items.push({ start: offset, end: next, undefinedLength: true, elements });
        offset = next;
      } else {
        this.need(offset + 8, length, 'item value');
        if (end !== undefined && offset + 8 + length > end)
          throw new InvalidDicomError(`item at byte ${offset} runs past the end of its sequence`);
        const { elements } = this.elements(offset + 8, offset + 8 + length, depth + 1);
        items.push({ start: offset, end: offset + 8 + length, undefinedLength: false, elements });
        offset += 8 + length;
      }
    }
  }

  /** The length of the item at `offset`, or undefined at the sequence delimiter. */
  private itemLength(offset: number): number | undefined {
    this.need(offset, 8, 'item header');
    const tag = ((this.u16(offset) << 16) | this.u16(offset + 2)) >>> 0;
    if (tag === SEQUENCE_END) return undefined;
    if (tag !== ITEM) throw new InvalidDicomError(`unexpected ${tagName(tag)} inside a sequence`);
    return this.u32(offset + 4);
  }

  /**
   * Walks an encapsulated value of undefined length (PS3.5 A.4: fragments of defined length up to the
   * sequence delimiter) from `valueStart`; returns where it ends, and collects the fragments in `into`.
   */
  fragments(valueStart: number, tag: number, into?: Fragment[]): number {
    for (let offset = valueStart; ;) {
      const length = this.itemLength(offset);
      if (length === undefined) return offset + 8;
      if (length === UNDEFINED_LENGTH)
        throw new InvalidDicomError(
          `${tagName(tag)} holds an item of undefined length where fragments of defined length belong`,
        );
      this.need(offset + 8, length, 'item value');
      into?.push({ start: offset + 8, end: offset + 8 + length });
      offset += 8 + length;
    }
  }

  /**
   * Where the element at `offset` ends, every length on the way checked, without building its tree: values
   * of defined length are skipped whole, values of undefined length walked to their delimiter.
   */
  skipElement(offset: number, depth: number): { tag: number; end: number } {
    const header = this.header(offset);
    const { tag, length } = header;
    const valueStart = offset + header.headerLength;
    if (length !== UNDEFINED_LENGTH) return { tag, end: this.valueEnd(tag, valueStart, length) };
    if (!this.isSequence(header, valueStart, depth)) return { tag, end: this.fragments(valueStart, tag) };
    if (depth > MAX_DEPTH) throw new InvalidDicomError(`sequences nested deeper than ${MAX_DEPTH} levels`);
    for (let at = valueStart; ;) {
      const itemLength = this.itemLength(at);
      if (itemLength === undefined) return { tag, end: at + 8 };
      at += 8;
      if (itemLength !== UNDEFINED_LENGTH) {
        this.need(at, itemLength, 'item value');
        at += itemLength;
        continue;
      }
      for (;;) {
        this.need(at, 8, 'element header');
        if (((this.u16(at) << 16) | this.u16(at + 2)) >>> 0 === ITEM_END) break;
        at = this.skipElement(at, depth + 1).end;
      }
      at += 8;
    }
  }
}

export interface WalkResult {
  pixelDataOffset: number;
}

/**
 * Proves a received dataset from `start` up to its pixel data: every element, inside sequences and items
 * too (nested at most MAX_DEPTH deep, whatever the encoding of their lengths), has a known VR and fits in
 * what holds it; the pixel data's own length or fragments are checked, what follows it is not read.
 * Returns the offset of the pixel data element, or -1 when the dataset ends without one.
 */
export function walkDataset(
  buf: Buffer,
  start: number,
  explicit: boolean,
  littleEndian: boolean,
): WalkResult {
  const walker = new DatasetWalker(buf, explicit, littleEndian, { requireVr: true });
  for (let offset = start; offset < buf.length;) {
    if (walker.header(offset).tag === PIXEL_DATA) {
      walker.skipElement(offset, 0);
      return { pixelDataOffset: offset };
    }
    offset = walker.walkElement(offset).end;
  }
  return { pixelDataOffset: -1 };
}
