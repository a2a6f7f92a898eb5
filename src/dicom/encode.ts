/**
 * Writing elements: the headers (tag, VR in explicit syntaxes, value length) every byte-level writer of a
 * dataset puts in front of its values, and an encoder for a dataset's own transfer syntax.
 */
import { BadRequestError } from '../errors.js';
import { ITEM, LONG_VRS } from './vr.js';

/** How a dataset is encoded: explicit or implicit VR, little or big endian. */
export interface Syntax {
  readonly explicit: boolean;
  readonly littleEndian: boolean;
}
export const EXPLICIT_LITTLE: Syntax = { explicit: true, littleEndian: true };

/** An element's header: tag, VR (explicit syntaxes) and value length. */
export function elementHeader(tag: number, vr: string, length: number, syntax: Syntax): Buffer {
  const u16 = (b: Buffer, v: number, o: number) =>
    syntax.littleEndian ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o);
  const u32 = (b: Buffer, v: number, o: number) =>
    syntax.littleEndian ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o);
  const long = !syntax.explicit || LONG_VRS.has(vr);
  const head = Buffer.alloc(syntax.explicit && long ? 12 : 8);
  u16(head, tag >>> 16, 0);
  u16(head, tag & 0xffff, 2);
  if (!syntax.explicit) {
    u32(head, length, 4);
    return head;
  }
  head.write(vr, 4, 'latin1');
  if (long) u32(head, length, 8);
  else {
    if (length > 0xffff) throw new BadRequestError(`a ${vr} value is at most 65534 bytes, got ${length}`);
    u16(head, length, 6);
  }
  return head;
}

/** The header of an item or a delimiter: a tag and a 4-byte length, with no VR in any syntax. */
export function itemHeader(tag: number, length: number, littleEndian: boolean): Buffer {
  return elementHeader(tag, '', length, { explicit: false, littleEndian });
}

/** A whole element: header and value. */
export function encodeElement(tag: number, vr: string, value: Buffer, syntax: Syntax): Buffer {
  return Buffer.concat([elementHeader(tag, vr, value.length, syntax), value]);
}

/** Writes elements in a dataset's transfer syntax, text as it is held (latin1 bytes). */
export class Encoder implements Syntax {
  constructor(
    readonly explicit: boolean,
    readonly littleEndian: boolean,
  ) {}

  encode(tag: number, vr: string, value: Buffer): Buffer {
    // A value too long for its 16-bit length field is written as UN (PS3.5 6.2.2).
    const tooLong = this.explicit && !LONG_VRS.has(vr) && value.length > 0xffff;
    return encodeElement(tag, tooLong ? 'UN' : vr, value, this);
  }

  encodeText(tag: number, vr: string, text: string): Buffer {
    let value = Buffer.from(text, 'latin1');
    if (value.length % 2) value = Buffer.concat([value, Buffer.from(vr === 'UI' ? '\0' : ' ', 'latin1')]);
    return this.encode(tag, vr, value);
  }

  encodeValue(tag: number, vr: string, value: string | Buffer): Buffer {
    return typeof value === 'string' ? this.encodeText(tag, vr, value) : this.encode(tag, vr, value);
  }

  /** A sequence of defined length whose items, of defined length too, hold the given elements. */
  encodeSequence(tag: number, items: Buffer[][]): Buffer {
    const framed = items.map((content) => {
      const length = content.reduce((n, b) => n + b.length, 0);
      return Buffer.concat([itemHeader(ITEM, length, this.littleEndian), ...content]);
    });
    return this.encode(tag, 'SQ', Buffer.concat(framed));
  }
}
