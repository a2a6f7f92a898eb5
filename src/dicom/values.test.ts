import { describe, expect, it } from 'vitest';
import { elementHeader, EXPLICIT_LITTLE, type Syntax } from './encode.js';
import { charsetOf, encodeValue } from './values.js';

const BIG: Syntax = { explicit: true, littleEndian: false };
const IMPLICIT: Syntax = { explicit: false, littleEndian: true };
const enc = (
  vr: string,
  text: string,
  syntax = EXPLICIT_LITTLE,
  charset: 'ascii' | 'latin1' | 'utf8' = 'ascii',
) => encodeValue(vr, text, { charset, syntax, what: 'test' });

describe('encodeValue', () => {
  it('pads text to even length: UIDs with NUL, the rest with a space', () => {
    expect(enc('UI', '1.2.3')).toEqual(Buffer.from('1.2.3\0', 'latin1'));
    expect(enc('LO', 'abc')).toEqual(Buffer.from('abc ', 'latin1'));
    expect(enc('CS', 'ORIGINAL\\PRIMARY')).toEqual(Buffer.from('ORIGINAL\\PRIMARY', 'latin1'));
    expect(enc('DA', '')).toEqual(Buffer.alloc(0));
  });

  it('encodes text in the character set asked for', () => {
    expect(enc('LO', 'é', EXPLICIT_LITTLE, 'latin1')).toEqual(Buffer.from([0xe9, 0x20]));
    expect(enc('LO', 'é', EXPLICIT_LITTLE, 'utf8')).toEqual(Buffer.from([0xc3, 0xa9]));
    expect(() => enc('LO', 'é')).toThrow(/only ASCII/);
    expect(() => enc('UR', 'http://é.example', EXPLICIT_LITTLE, 'utf8')).toThrow(/ASCII characters only/);
  });

  it('writes numbers as binary in either byte order, several values separated by \\', () => {
    expect(enc('US', '1\\258')).toEqual(Buffer.from([1, 0, 2, 1]));
    expect(enc('US', '258', BIG)).toEqual(Buffer.from([1, 2]));
    expect(enc('SS', '-2')).toEqual(Buffer.from([0xfe, 0xff]));
    expect(enc('UL', '65536', BIG)).toEqual(Buffer.from([0, 1, 0, 0]));
    expect(enc('FD', '1.5').readDoubleLE(0)).toBe(1.5);
    expect(enc('FL', '0.25', BIG).readFloatBE(0)).toBe(0.25);
    expect(enc('AT', '(0010,0020)')).toEqual(Buffer.from([0x10, 0, 0x20, 0]));
    expect(enc('US', '')).toEqual(Buffer.alloc(0));
  });

  it('checks values against their VR', () => {
    expect(() => enc('US', '-1')).toThrow(/out of range/);
    expect(() => enc('SL', '1.5')).toThrow(/not an integer/);
    expect(() => enc('FD', 'pi')).toThrow(/not a number/);
    expect(() => enc('TM', '256000')).toThrow(/not a valid TM/);
    expect(() => enc('DA', '20261301')).toThrow(/not a valid DA/);
    expect(() => enc('AS', '5Y')).toThrow(/not a valid AS/);
    expect(() => enc('IS', '99999999999')).toThrow(/out of range|at most/);
    expect(() => enc('DS', '1,5')).toThrow(/not a valid DS/);
    expect(() => enc('LO', 'a\nb')).toThrow(/control characters/);
    expect(enc('LT', 'line 1\r\nline 2').toString('latin1')).toBe('line 1\r\nline 2');
    expect(() => enc('OB', '00')).toThrow(/VR OB cannot be written/);
  });
});

describe('elementHeader', () => {
  it('writes explicit short, explicit long and implicit headers', () => {
    expect(elementHeader(0x00100020, 'LO', 4, EXPLICIT_LITTLE)).toEqual(
      Buffer.from([0x10, 0, 0x20, 0, 0x4c, 0x4f, 4, 0]),
    );
    expect(elementHeader(0x00081140, 'UT', 6, BIG)).toEqual(
      Buffer.from([0, 0x08, 0x11, 0x40, 0x55, 0x54, 0, 0, 0, 0, 0, 6]),
    );
    expect(elementHeader(0x00100020, 'LO', 4, IMPLICIT)).toEqual(Buffer.from([0x10, 0, 0x20, 0, 4, 0, 0, 0]));
  });
});

describe('charsetOf', () => {
  it('knows the default repertoire, Latin-1 and UTF-8, and nothing else', () => {
    expect(charsetOf('')).toBe('ascii');
    expect(charsetOf('ISO_IR 100 ')).toBe('latin1');
    expect(charsetOf('ISO_IR 192')).toBe('utf8');
    expect(charsetOf('ISO_IR 144')).toBeUndefined();
    expect(charsetOf('\\ISO 2022 IR 87')).toBeUndefined();
  });
});
