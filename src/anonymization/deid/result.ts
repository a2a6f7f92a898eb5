/**
 * The result of a de-identification or root rewrite: the new file in pieces (views of the input for what
 * is kept, so the pixel data is never copied), checked to read back, with its header.
 */
import { deflateRawSync } from 'node:zlib';
import dcmjs from 'dcmjs';
import { parseHeader, type DicomHeader } from '../../dicom/header.js';
import { PIXEL_DATA } from '../../dicom/vr.js';
import { SluiceError } from '../../errors.js';
import type { Out } from './anonymizer.js';
import type { OptionName } from './profile.js';
import { TAG } from './tags.js';

const { DicomMessage } = dcmjs.data;

export class AnonymizationError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ANONYMIZATION.FAILED', `anonymization: ${message}`, 500, options);
  }
}

export interface AnonymizeResult {
  /**
   * The new file as consecutive pieces: new values, and views of the input for everything kept (the pixel
   * data is never copied). Write them with a gathering write; `bytes` joins them on first use.
   */
  readonly parts: readonly Buffer[];
  /** Total length of the parts. */
  readonly length: number;
  /** The whole file. */
  readonly bytes: Buffer;
  header: DicomHeader;
  /** True when the input was already de-identified and is answered unchanged. */
  skipped: boolean;
  /** The options applied, BASIC_PROFILE first. */
  options: readonly OptionName[];
}

/** A result whose `bytes` are joined only when someone asks for them. */
class PartsResult implements AnonymizeResult {
  private joined: Buffer | undefined;
  readonly length: number;
  constructor(
    readonly parts: readonly Buffer[],
    public header: DicomHeader,
    readonly skipped: boolean,
    readonly options: readonly OptionName[],
  ) {
    this.length = parts.reduce((n, p) => n + p.length, 0);
  }
  get bytes(): Buffer {
    if (this.parts.length === 1) return this.parts[0]!;
    return (this.joined ??= Buffer.concat(this.parts as Buffer[], this.length));
  }
}

/** The unchanged input, as a result. */
export function unchanged(
  file: Buffer,
  header: DicomHeader,
  options: readonly OptionName[],
): AnonymizeResult {
  return new PartsResult([file], header, true, options);
}

/**
 * Assembles the file meta and the root elements, and checks that the result reads back: the header (what
 * comes before the pixel data) is parsed from a small joined copy; the rest stays in pieces.
 */
export function finish(
  meta: Buffer,
  merged: readonly Out[],
  deflated: boolean,
  options: readonly OptionName[],
  what: string,
  input: DicomHeader,
): AnonymizeResult {
  try {
    if (deflated) {
      const bytes = Buffer.concat([meta, deflateRawSync(Buffer.concat(merged.map((o) => o.bytes)))]);
      return new PartsResult([bytes], parseHeader(bytes), false, options);
    }
    const parts = [meta, ...merged.map((o) => o.bytes)];
    const pixel = merged.findIndex((o) => o.tag === PIXEL_DATA);
    if (pixel < 0) {
      const result = new PartsResult(parts, undefined as never, false, options);
      result.header = parseHeader(result.bytes);
      return result;
    }
    const header = headerOf(meta, merged.slice(0, pixel), input);
    header.pixelDataOffset = parts.slice(0, pixel + 1).reduce((n, p) => n + p.length, 0);
    return new PartsResult(parts, header, false, options);
  } catch (err) {
    throw new AnonymizationError(`the ${what} instance does not read back: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * The header of the new file without parsing it all again: elements kept verbatim take their parsed value
 * from the input's header; only the new ones (and the character set they are read with) go through dcmjs.
 */
function headerOf(
  meta: Buffer,
  head: readonly Out[],
  input: DicomHeader,
): { -readonly [K in keyof DicomHeader]: DicomHeader[K] } {
  const changed = head.filter((o) => !o.kept || o.tag === TAG.SpecificCharacterSet);
  const mini = Buffer.concat([meta, ...changed.map((o) => o.bytes)]);
  // One dcmjs pass over meta and new elements (parseHeader would read the meta twice).
  const read = DicomMessage.readFile(
    mini.buffer.slice(mini.byteOffset, mini.byteOffset + mini.length) as ArrayBuffer,
    { ignoreErrors: false },
  );
  const parsed = {
    meta: read.meta as DicomHeader['meta'],
    dataset: read.dict as DicomHeader['dataset'],
    transferSyntaxUid: input.transferSyntaxUid,
    sopInstanceUid: String(read.meta['00020003']?.Value?.[0] ?? '').replace(/[\0 ]+$/, ''),
    pixelDataOffset: -1,
  };
  const dataset: DicomHeader['dataset'] = {};
  for (const o of head) {
    const key = o.tag.toString(16).toUpperCase().padStart(8, '0');
    const value = o.kept ? input.dataset[key] : parsed.dataset[key];
    // An element the input's parse did not give (dcmjs skips some): read the whole header after all.
    if (!value) return { ...parseHeader(Buffer.concat([meta, ...head.map((h) => h.bytes)])) };
    dataset[key] = value;
  }
  return { ...parsed, dataset, sopClassUid: input.sopClassUid };
}
