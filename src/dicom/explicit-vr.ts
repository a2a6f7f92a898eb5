/**
 * Implicit VR little endian → explicit VR little endian, for a client that asks for the stored instance in
 * explicit VR (DICOMweb's default transfer syntax): each element takes the VR the dictionary gives its tag
 * (OW for the pixel data and other "OB or OW" entries, US for "US or SS", LO for private creators, UN for
 * private and unknown tags and for values too long for a short VR). Values are copied as they are;
 * sequences and items are written with undefined length and delimiters, so no length is recomputed.
 */
import { InvalidDicomError } from '../errors.js';
import { elementHeader, EXPLICIT_LITTLE, itemHeader } from './encode.js';
import { dictionaryVr, ITEM, ITEM_END, LONG_VRS, SEQUENCE_END, UNDEFINED_LENGTH } from './vr.js';
import { DatasetWalker, type RawElement } from './walker.js';

/** The VR an implicit VR element is written with. */
export function explicitVrOf(tag: number, length: number): string {
  const group = tag >>> 16;
  const element = tag & 0xffff;
  if (element === 0) return 'UL'; // group length
  if (group % 2 === 1) return element >= 0x10 && element <= 0xff ? 'LO' : 'UN';
  const vr = dictionaryVr(tag);
  const chosen = vr === 'ox' ? 'OW' : vr === 'xs' ? 'US' : vr && /^[A-Z]{2}$/.test(vr) ? vr : 'UN';
  return !LONG_VRS.has(chosen) && length > 0xffff ? 'UN' : chosen;
}

/** The dataset (no preamble, no file meta) re-encoded in explicit VR little endian. */
export function implicitToExplicitLittleEndian(dataset: Buffer): Buffer {
  const out: Buffer[] = [];
  const convert = (elements: readonly RawElement[]) => {
    for (const element of elements) {
      const { tag, items } = element;
      if (items) {
        out.push(elementHeader(tag, 'SQ', UNDEFINED_LENGTH, EXPLICIT_LITTLE));
        for (const item of items) {
          out.push(itemHeader(ITEM, UNDEFINED_LENGTH, true));
          convert(item.elements);
          out.push(itemHeader(ITEM_END, 0, true));
        }
        out.push(itemHeader(SEQUENCE_END, 0, true));
        continue;
      }
      if (element.undefinedLength)
        throw new InvalidDicomError(`cannot convert element ${tag.toString(16)} of undefined length`);
      const value = dataset.subarray(element.start + element.headerLength, element.end);
      out.push(elementHeader(tag, explicitVrOf(tag, value.length), value.length, EXPLICIT_LITTLE), value);
    }
  };
  convert(new DatasetWalker(dataset, false, true).elements(0, dataset.length, 0).elements);
  return Buffer.concat(out);
}
