/**
 * Explicit VR little endian → implicit VR little endian, for a peer that accepts only implicit VR little
 * endian (the DICOM default): stored explicit files and decompressed ones (src/render/transcode.ts) are
 * converted before a send. Values are copied as they are; sequences and items are written with undefined
 * length and delimiters, so no length has to be recomputed.
 */
import { InvalidDicomError } from '../errors.js';
import { elementHeader, itemHeader, type Syntax } from './encode.js';
import { ITEM, ITEM_END, SEQUENCE_END, UNDEFINED_LENGTH } from './vr.js';
import { DatasetWalker, type RawElement } from './walker.js';

const IMPLICIT_LITTLE: Syntax = { explicit: false, littleEndian: true };

/** The dataset (no preamble, no file meta) re-encoded in implicit VR little endian. */
export function explicitToImplicitLittleEndian(dataset: Buffer): Buffer {
  const out: Buffer[] = [];
  const header = (tag: number, length: number) => itemHeader(tag, length, true);
  const convert = (elements: readonly RawElement[]) => {
    for (const element of elements) {
      const { tag, items } = element;
      if (items) {
        out.push(elementHeader(tag, '', UNDEFINED_LENGTH, IMPLICIT_LITTLE));
        for (const item of items) {
          out.push(header(ITEM, UNDEFINED_LENGTH));
          convert(item.elements);
          out.push(header(ITEM_END, 0));
        }
        out.push(header(SEQUENCE_END, 0));
        continue;
      }
      const vr = dataset.toString('latin1', element.start + 4, element.start + 6);
      // Encapsulated values have no implicit VR form (PS3.5 A.4); a UN of undefined length is not walked.
      if (element.undefinedLength)
        throw new InvalidDicomError(
          vr === 'UN'
            ? `cannot convert UN element ${tag.toString(16)} of undefined length`
            : `undefined length on ${vr} element ${tag.toString(16)}`,
        );
      const value = dataset.subarray(element.start + element.headerLength, element.end);
      out.push(elementHeader(tag, '', value.length, IMPLICIT_LITTLE), value);
    }
  };
  convert(new DatasetWalker(dataset, true, true).elements(0, dataset.length, 0).elements);
  return Buffer.concat(out);
}
