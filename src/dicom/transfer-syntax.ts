/** The transfer syntaxes we receive and store, and how each encodes a dataset. */
import type { Syntax } from './encode.js';

export const TransferSyntax = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  JpegBaseline: '1.2.840.10008.1.2.4.50',
  JpegExtended: '1.2.840.10008.1.2.4.51',
  JpegLossless: '1.2.840.10008.1.2.4.57',
  JpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  JpegLsLossless: '1.2.840.10008.1.2.4.80',
  JpegLsNearLossless: '1.2.840.10008.1.2.4.81',
  Jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  Jpeg2000: '1.2.840.10008.1.2.4.91',
  RleLossless: '1.2.840.10008.1.2.5',
} as const;

/** Transfer syntaxes we receive and store as they are. */
export const ACCEPTED_TRANSFER_SYNTAXES: readonly string[] = Object.values(TransferSyntax);

/** How a dataset in this transfer syntax is encoded (a deflated one once inflated; compressed ones are explicit VR little endian around their pixel data). */
export function syntaxOf(transferSyntaxUid: string): Syntax {
  return {
    explicit: transferSyntaxUid !== TransferSyntax.ImplicitVRLittleEndian,
    littleEndian: transferSyntaxUid !== TransferSyntax.ExplicitVRBigEndian,
  };
}
