import { describe, expect, it } from 'vitest';
import { InvalidDicomError } from '../errors.js';
import { encodeElement, EXPLICIT_LITTLE, itemHeader, type Syntax } from './encode.js';
import { ITEM, ITEM_END, PIXEL_DATA, SEQUENCE_END, UNDEFINED_LENGTH } from './vr.js';
import { DatasetWalker, walkDataset, type Fragment } from './walker.js';

const IMPLICIT: Syntax = { explicit: false, littleEndian: true };
const text = (tag: number, vr: string, s: string, syntax = EXPLICIT_LITTLE) =>
  encodeElement(tag, vr, Buffer.from(s.length % 2 ? `${s} ` : s, 'latin1'), syntax);
const item = (...content: Buffer[]) =>
  Buffer.concat([itemHeader(ITEM, Buffer.concat(content).length, true), ...content]);
const undefinedItem = (...content: Buffer[]) =>
  Buffer.concat([itemHeader(ITEM, UNDEFINED_LENGTH, true), ...content, itemHeader(ITEM_END, 0, true)]);
/** An explicit VR SQ of undefined length. */
const undefinedSequence = (tag: number, ...items: Buffer[]) => {
  const head = encodeElement(tag, 'SQ', Buffer.alloc(0), EXPLICIT_LITTLE);
  head.writeUInt32LE(UNDEFINED_LENGTH, 8);
  return Buffer.concat([head, ...items, itemHeader(SEQUENCE_END, 0, true)]);
};
/** Encapsulated pixel data: OB of undefined length, fragments, delimiter. */
const encapsulated = (...fragments: Buffer[]) => {
  const head = encodeElement(PIXEL_DATA, 'OB', Buffer.alloc(0), EXPLICIT_LITTLE);
  head.writeUInt32LE(UNDEFINED_LENGTH, 8);
  return Buffer.concat([head, ...fragments.map((f) => item(f)), itemHeader(SEQUENCE_END, 0, true)]);
};

describe('DatasetWalker', () => {
  it('reads elements, sequences of both lengths and their items with byte ranges', () => {
    const name = text(0x00100010, 'PN', 'Doe^Jane');
    const inner = text(0x00081150, 'UI', '1.2.3');
    const defined = encodeElement(0x00081140, 'SQ', item(inner), EXPLICIT_LITTLE);
    const undefinedLength = undefinedSequence(0x00081115, undefinedItem(inner), item(inner));
    const dataset = Buffer.concat([name, defined, undefinedLength]);

    const { elements, next } = new DatasetWalker(dataset, true, true).elements(0, dataset.length, 0);
    expect(next).toBe(dataset.length);
    expect(elements.map((e) => [e.tag, e.start, e.end])).toEqual([
      [0x00100010, 0, name.length],
      [0x00081140, name.length, name.length + defined.length],
      [0x00081115, name.length + defined.length, dataset.length],
    ]);
    expect(elements[0].items).toBeUndefined();
    expect(elements[1].items).toHaveLength(1);
    expect(elements[1].lengthOffset).toBe(name.length + 8);
    const [first, second] = elements[2].items!;
    expect(first.undefinedLength).toBe(true);
    expect(second.undefinedLength).toBe(false);
    expect(first.elements[0].tag).toBe(0x00081150);
    expect(dataset.subarray(first.elements[0].start, first.elements[0].end)).toEqual(inner);
  });

  it('takes a private implicit VR element for a sequence only when its value parses as items', () => {
    const inner = text(0x00100020, '', 'ID', IMPLICIT);
    const sequence = encodeElement(0x00091010, '', item(inner), IMPLICIT);
    // Starts with an item tag, but the item's length runs past the value.
    const lookalike = encodeElement(
      0x00091011,
      '',
      Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0x40, 0, 0, 0]),
      IMPLICIT,
    );
    const dataset = Buffer.concat([sequence, lookalike]);

    const [seq, value] = new DatasetWalker(dataset, false, true).elements(0, dataset.length, 0).elements;
    expect(seq.items?.[0].elements[0].tag).toBe(0x00100020);
    expect(value.items).toBeUndefined();
    expect(value.end).toBe(dataset.length);
  });

  it('walks a UN that holds a sequence as implicit VR little endian items, when asked (PS3.5 6.2.2)', () => {
    const uid = text(0x00081155, '', '1.2.3', IMPLICIT);
    const nested = encodeElement(0x300c0020, '', item(text(0x300c0022, '', '1', IMPLICIT)), IMPLICIT);
    const items = item(uid, nested);
    // A public sequence converted to UN with a defined length (ReferencedRTPlanSequence), in big endian.
    const big: Syntax = { explicit: true, littleEndian: false };
    const defined = encodeElement(0x300c0002, 'UN', items, big);
    // A private one of undefined length: a UN of undefined length is always a sequence.
    const head = encodeElement(0x44531010, 'UN', Buffer.alloc(0), big);
    head.writeUInt32BE(UNDEFINED_LENGTH, 8);
    const open = Buffer.concat([head, undefinedItem(uid), itemHeader(SEQUENCE_END, 0, true)]);
    // A UN of a tag that is no sequence stays a value.
    const plain = encodeElement(0x00081030, 'UN', Buffer.from('Knee'), big);
    const dataset = Buffer.concat([defined, plain, open]);

    const walker = new DatasetWalker(dataset, true, false, { unknownSequences: true });
    const [rtPlan, description, priv] = walker.elements(0, dataset.length, 0).elements;
    expect(rtPlan).toMatchObject({ tag: 0x300c0002, end: defined.length, implicitItems: true });
    const [first] = rtPlan.items!;
    expect(first.elements.map((e) => e.tag)).toEqual([0x00081155, 0x300c0020]);
    expect(dataset.subarray(first.elements[0].start, first.elements[0].end)).toEqual(uid);
    expect(first.elements[1].items![0].elements[0].tag).toBe(0x300c0022);
    expect(description.items).toBeUndefined();
    expect(priv).toMatchObject({ tag: 0x44531010, end: dataset.length, implicitItems: true });
    expect(priv.items![0].elements[0].tag).toBe(0x00081155);

    // Without the option, a defined-length UN is a value and one of undefined length is refused.
    const plainWalker = new DatasetWalker(dataset, true, false);
    expect(plainWalker.elements(0, defined.length, 0).elements[0].items).toBeUndefined();
    expect(() => plainWalker.elements(0, dataset.length, 0)).toThrow(InvalidDicomError);
  });

  it('walks encapsulated fragments by their lengths and collects them', () => {
    const fragment = Buffer.from([0xfe, 0xff, 0xdd, 0xe0]); // delimiter-like bytes inside a fragment
    const pixels = encapsulated(Buffer.alloc(0), fragment);
    const walker = new DatasetWalker(pixels, true, true);
    const header = walker.header(0);
    const fragments: Fragment[] = [];
    expect(walker.fragments(header.headerLength, PIXEL_DATA, fragments)).toBe(pixels.length);
    expect(fragments.map((f) => pixels.subarray(f.start, f.end))).toEqual([Buffer.alloc(0), fragment]);
    expect(walker.elements(0, pixels.length, 0).elements[0]).toMatchObject({
      end: pixels.length,
      undefinedLength: true,
    });
  });

  it('names the element and the byte where a length does not fit', () => {
    const dataset = Buffer.concat([text(0x00100010, 'PN', 'Doe^Jane'), text(0x00100020, 'LO', 'P1')]);
    const walker = new DatasetWalker(dataset.subarray(0, dataset.length - 1), true, true);
    expect(() => walker.elements(0, dataset.length, 0)).toThrow(
      /\(0010,0020\) declares 2 bytes but only 1 remain/,
    );
    const cut = new DatasetWalker(dataset.subarray(0, 20), true, true);
    expect(() => cut.elements(0, 20, 0)).toThrow(
      /truncated: element header at byte 16 needs 8 bytes, only 4 remain/,
    );
  });

  it('refuses sequences nested deeper than 64 levels', () => {
    let nested = text(0x00100010, 'PN', 'X');
    for (let i = 0; i < 70; i++) nested = undefinedSequence(0x00081115, undefinedItem(nested));
    const walker = new DatasetWalker(nested, true, true);
    expect(() => walker.elements(0, nested.length, 0)).toThrow(/nested deeper than 64/);
    expect(() => walkDataset(nested, 0, true, true)).toThrow(/nested deeper than 64/);
  });
});

describe('walkDataset', () => {
  const head = Buffer.concat([
    text(0x00100010, 'PN', 'Doe^Jane'),
    undefinedSequence(0x00081115, undefinedItem()),
  ]);

  it('finds the pixel data and does not read what follows it', () => {
    const pixels = encapsulated(Buffer.alloc(0), Buffer.from([1, 2]));
    const garbage = Buffer.from('not DICOM at all', 'latin1');
    expect(walkDataset(Buffer.concat([head, pixels, garbage]), 0, true, true)).toEqual({
      pixelDataOffset: head.length,
    });
    expect(walkDataset(head, 0, true, true)).toEqual({ pixelDataOffset: -1 });
  });

  it('checks the pixel data element itself', () => {
    const pixels = encapsulated(Buffer.from([1, 2]));
    const unclosed = Buffer.concat([head, pixels.subarray(0, pixels.length - 8)]);
    expect(() => walkDataset(unclosed, 0, true, true)).toThrow(InvalidDicomError);
    expect(() => walkDataset(unclosed, 0, true, true)).toThrow(/truncated: item header at byte/);
  });

  it('refuses an explicit VR element without a valid VR, which a lenient walker reads', () => {
    const bad = Buffer.from(text(0x00100020, 'LO', 'P1'));
    bad.write('lo', 4, 'latin1');
    const dataset = Buffer.concat([head, bad]);
    expect(() => walkDataset(dataset, 0, true, true)).toThrow(/\(0010,0020\) has no valid VR/);
    expect(new DatasetWalker(dataset, true, true).elements(0, dataset.length, 0).next).toBe(dataset.length);
  });

  it('reads implicit VR and big endian data from an offset', () => {
    const implicit = Buffer.concat([Buffer.alloc(10), text(0x00100020, '', 'P1', IMPLICIT)]);
    expect(walkDataset(implicit, 10, false, true)).toEqual({ pixelDataOffset: -1 });
    const big = Buffer.concat([text(0x00100020, 'LO', 'P1', { explicit: true, littleEndian: false })]);
    big.writeUInt16BE(0x7fe0, 0);
    big.writeUInt16BE(0x0010, 2);
    expect(walkDataset(big, 0, true, false)).toEqual({ pixelDataOffset: 0 });
  });
});
