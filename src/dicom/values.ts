/**
 * Writing DICOM element values from text, as a client sends them (`"20260101"`, `"1.2.3"`, `"512"`,
 * `"ORIGINAL\\PRIMARY"`): checked against the value representation, encoded in the file's character set and
 * byte order, padded to even length. Used to wrap JPEGs into Secondary Capture and to modify stored files.
 */
import { BadRequestError } from '../errors.js';
import type { Syntax } from './encode.js';
import { isValidUid } from './header.js';

/** Text encodings we write; `ascii` is the default repertoire (no SpecificCharacterSet). */
export type Charset = 'ascii' | 'latin1' | 'utf8';

/** The charset to write text in, from a SpecificCharacterSet value; undefined when we cannot write it. */
export function charsetOf(specificCharacterSet: string): Charset | undefined {
  const terms = specificCharacterSet
    .split('\\')
    .map((t) => t.trim())
    .filter(Boolean);
  if (terms.length === 0) return 'ascii';
  if (terms.length > 1) return undefined; // code extensions (ISO 2022): not written here
  if (terms[0] === 'ISO_IR 6') return 'ascii';
  if (terms[0] === 'ISO_IR 100') return 'latin1';
  if (terms[0] === 'ISO_IR 192') return 'utf8';
  return undefined;
}

interface TextRule {
  max: number;
  /** The value is one value even when it holds a backslash. */
  single?: boolean;
  /** Only the default repertoire, whatever the character set. */
  ascii?: boolean;
  pattern?: RegExp;
  padding?: string;
}

const CONTROL = /[\x00-\x1f\x7f]/;
const TEXT_CONTROL = /[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]/; // LT, ST, UT allow TAB, LF, FF, CR, ESC

const TEXT: Record<string, TextRule> = {
  AE: { max: 16, ascii: true, pattern: /^[\x20-\x5b\x5d-\x7e]*$/ },
  AS: { max: 4, ascii: true, pattern: /^(\d{3}[DWMY])?$/ },
  CS: { max: 16, ascii: true, pattern: /^[A-Z0-9 _]*$/ },
  DA: { max: 8, ascii: true, pattern: /^(\d{4}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01]))?$/ },
  DS: { max: 16, ascii: true, pattern: /^( *[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)? *)?$/ },
  DT: {
    max: 26,
    ascii: true,
    pattern: /^(\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?)?$/,
  },
  IS: { max: 12, ascii: true, pattern: /^( *[+-]?\d+ *)?$/ },
  LO: { max: 64 },
  LT: { max: 10240, single: true },
  PN: { max: 194 }, // three component groups of 64, checked one by one below
  SH: { max: 16 },
  ST: { max: 1024, single: true },
  TM: { max: 14, ascii: true, pattern: /^(([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?)?$/ },
  UC: { max: Infinity },
  UI: { max: 64, ascii: true, padding: '\0' },
  UR: { max: Infinity, single: true, ascii: true },
  UT: { max: Infinity, single: true },
};

/** What a patterned VR looks like, for error messages (which never repeat the value: it may be patient data). */
const FORMATS: Record<string, string> = {
  AE: 'printable ASCII without \\',
  AS: 'nnnD, nnnW, nnnM or nnnY',
  CS: 'A-Z, 0-9, space and _',
  DA: 'YYYYMMDD',
  DS: 'a decimal number',
  DT: 'YYYYMMDDHHMMSS.FFFFFF&ZZXX',
  IS: 'an integer',
  TM: 'HHMMSS.FFFFFF',
};

const BINARY: Record<string, number> = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8, SV: 8, UV: 8, AT: 4 };

/** Whether a value of this VR can be written from text. */
export function isTextWritable(vr: string): boolean {
  return vr in TEXT || vr in BINARY;
}

/**
 * Encodes `text` as the value of an element of VR `vr`. With `check` (the default), a value that breaks the
 * VR's rules is a BadRequestError naming `what`; without it (copying values we already hold) only the
 * encoding is done.
 */
export function encodeValue(
  vr: string,
  text: string,
  options: { charset: Charset; syntax: Syntax; what: string; check?: boolean },
): Buffer {
  const { charset, syntax, what } = options;
  const check = options.check ?? true;
  const fail = (reason: string): never => {
    throw new BadRequestError(`${what}: ${reason}`);
  };
  const rule = TEXT[vr];
  if (rule) {
    const values = rule.single ? [text] : text.split('\\');
    if (check)
      for (const value of values) {
        if (value.length > rule.max) fail(`a ${vr} value is at most ${rule.max} characters`);
        const control = rule.single ? TEXT_CONTROL : CONTROL;
        if (control.test(value)) fail(`control characters are not allowed in ${vr}`);
        if (rule.pattern && !rule.pattern.test(value)) fail(`not a valid ${vr} value (${FORMATS[vr]})`);
        if (vr === 'UI' && value !== '' && !isValidUid(value)) fail(`"${value}" is not a valid UID`);
        if (vr === 'PN' && value.split('=').some((group) => group.length > 64))
          fail('a PN component group is at most 64 characters');
        if (vr === 'PN' && value.split('=').length > 3) fail('a PN value has at most 3 component groups');
        if (vr === 'IS' && value.trim() !== '' && Math.abs(Number(value)) > 2 ** 31 - 1)
          fail('out of range for IS');
      }
    const ascii = rule.ascii || charset === 'ascii';
    // Anything outside the repertoire is refused, not replaced: a modified file must say what was asked.
    if (ascii && /[^\x00-\x7f]/.test(text))
      fail(
        rule.ascii
          ? `${vr} takes ASCII characters only`
          : "the file's character set cannot hold the value (only ASCII here)",
      );
    if (charset === 'latin1' && /[^\x00-\xff]/.test(text))
      fail("the file's character set (ISO_IR 100) cannot hold the value");
    const bytes = Buffer.from(text, ascii ? 'latin1' : charset);
    return bytes.length % 2 ? Buffer.concat([bytes, Buffer.from(rule.padding ?? ' ', 'latin1')]) : bytes;
  }
  const size = BINARY[vr];
  if (size === undefined) return fail(`a value of VR ${vr} cannot be written from text`);
  if (text.trim() === '') return Buffer.alloc(0);
  const values = text.split('\\').map((v) => v.trim());
  const out = Buffer.alloc(values.length * size);
  values.forEach((value, i) => writeBinary(out, i * size, vr, value, syntax.littleEndian, fail));
  return out;
}

function writeBinary(
  out: Buffer,
  offset: number,
  vr: string,
  value: string,
  le: boolean,
  fail: (reason: string) => never,
): void {
  const integer = (min: number, max: number) => {
    if (!/^[+-]?\d+$/.test(value)) fail(`not an integer (${vr})`);
    const n = Number(value);
    if (n < min || n > max) fail(`out of range for ${vr} (${min}..${max})`);
    return n;
  };
  const big = (min: bigint, max: bigint) => {
    if (!/^[+-]?\d+$/.test(value)) fail(`not an integer (${vr})`);
    const n = BigInt(value);
    if (n < min || n > max) fail(`out of range for ${vr}`);
    return n;
  };
  const float = () => {
    const n = Number(value);
    if (value === '' || !Number.isFinite(n)) fail(`not a number (${vr})`);
    return n;
  };
  switch (vr) {
    case 'US':
      return void (le ? out.writeUInt16LE : out.writeUInt16BE).call(out, integer(0, 0xffff), offset);
    case 'SS':
      return void (le ? out.writeInt16LE : out.writeInt16BE).call(out, integer(-0x8000, 0x7fff), offset);
    case 'UL':
      return void (le ? out.writeUInt32LE : out.writeUInt32BE).call(out, integer(0, 0xffffffff), offset);
    case 'SL':
      return void (le ? out.writeInt32LE : out.writeInt32BE).call(
        out,
        integer(-0x80000000, 0x7fffffff),
        offset,
      );
    case 'FL':
      return void (le ? out.writeFloatLE : out.writeFloatBE).call(out, float(), offset);
    case 'FD':
      return void (le ? out.writeDoubleLE : out.writeDoubleBE).call(out, float(), offset);
    case 'SV':
      return void (le ? out.writeBigInt64LE : out.writeBigInt64BE).call(
        out,
        big(-(2n ** 63n), 2n ** 63n - 1n),
        offset,
      );
    case 'UV':
      return void (le ? out.writeBigUInt64LE : out.writeBigUInt64BE).call(
        out,
        big(0n, 2n ** 64n - 1n),
        offset,
      );
    case 'AT': {
      const m = /^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$/.exec(value);
      if (!m) fail('not a tag; write it as (GGGG,EEEE)');
      const write = le ? out.writeUInt16LE : out.writeUInt16BE;
      write.call(out, parseInt(m![1], 16), offset);
      write.call(out, parseInt(m![2], 16), offset + 2);
      return;
    }
  }
}
