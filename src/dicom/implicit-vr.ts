/**
 * Explicit VR little endian → implicit VR little endian, for a peer that accepts only implicit VR little
 * endian (the DICOM default): stored explicit files and decompressed ones (src/render/transcode.ts) are
 * converted before a send. Values are copied as they are; sequences and items are written with undefined length and
 * delimiters, so no length has to be recomputed.
 */
import { InvalidDicomError } from '../errors.js';
import { ITEM, ITEM_END, LONG_VRS, SEQUENCE_END, UNDEFINED_LENGTH as UNDEFINED } from './vr.js';

function header(tag: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(tag >>> 16, 0);
  b.writeUInt16LE(tag & 0xffff, 2);
  b.writeUInt32LE(length, 4);
  return b;
}

class Converter {
  readonly out: Buffer[] = [];
  constructor(private readonly buf: Buffer) {}

  private need(o: number, n: number): void {
    if (o + n > this.buf.length) throw new InvalidDicomError(`truncated at byte ${o}`);
  }
  private tag(o: number): number {
    this.need(o, 4);
    return ((this.buf.readUInt16LE(o) << 16) | this.buf.readUInt16LE(o + 2)) >>> 0;
  }

  /** Converts elements from `o` to `end` (or to an item delimiter when `end` is undefined); returns where it stopped. */
  elements(o: number, end: number | undefined, depth: number): number {
    if (depth > 64) throw new InvalidDicomError('sequences nested deeper than 64 levels');
    for (;;) {
      if (end !== undefined && o >= end) return o;
      const tag = this.tag(o);
      if (end === undefined && tag === ITEM_END) return o + 8;
      this.need(o, 8);
      const vr = this.buf.toString('latin1', o + 4, o + 6);
      let length: number;
      let start: number;
      if (LONG_VRS.has(vr)) {
        this.need(o, 12);
        length = this.buf.readUInt32LE(o + 8);
        start = o + 12;
      } else {
        length = this.buf.readUInt16LE(o + 6);
        start = o + 8;
      }
      if (vr === 'UN' && length === UNDEFINED)
        throw new InvalidDicomError(`cannot convert UN element ${tag.toString(16)} of undefined length`);
      if (vr === 'SQ') {
        this.out.push(header(tag, UNDEFINED));
        o = this.items(start, length === UNDEFINED ? undefined : start + length, depth);
        this.out.push(header(SEQUENCE_END, 0));
        continue;
      }
      if (length === UNDEFINED)
        throw new InvalidDicomError(`undefined length on ${vr} element ${tag.toString(16)}`);
      this.need(start, length);
      this.out.push(header(tag, length), this.buf.subarray(start, start + length));
      o = start + length;
    }
  }

  private items(o: number, end: number | undefined, depth: number): number {
    for (;;) {
      if (end !== undefined && o >= end) return o;
      const tag = this.tag(o);
      this.need(o, 8);
      const length = this.buf.readUInt32LE(o + 4);
      if (tag === SEQUENCE_END) return o + 8;
      if (tag !== ITEM) throw new InvalidDicomError(`unexpected (${tag.toString(16)}) inside a sequence`);
      this.out.push(header(ITEM, UNDEFINED));
      o =
        length === UNDEFINED
          ? this.elements(o + 8, undefined, depth + 1)
          : this.elements(o + 8, o + 8 + length, depth + 1);
      this.out.push(header(ITEM_END, 0));
    }
  }
}

/** The dataset (no preamble, no file meta) re-encoded in implicit VR little endian. */
export function explicitToImplicitLittleEndian(dataset: Buffer): Buffer {
  const c = new Converter(dataset);
  c.elements(0, dataset.length, 0);
  return Buffer.concat(c.out);
}
