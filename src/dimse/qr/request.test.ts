import { describe, expect, it } from 'vitest';
import { encodeIdentifier, parseIdentifier, type ResponseElement } from './identifier.js';
import { qrRequest, QrRequestError } from './request.js';
import { TransferSyntax } from '../../dicom/transfer-syntax.js';
import { Encoder } from '../../dicom/encode.js';

const EXPLICIT: string = TransferSyntax.ExplicitVRLittleEndian;
const IMPLICIT: string = TransferSyntax.ImplicitVRLittleEndian;
const implicit = new Encoder(false, true);
const identifier = (elements: ResponseElement[], ts = EXPLICIT) => encodeIdentifier(elements, ts);
const level = (text: string): ResponseElement => ({ tag: 0x00080052, vr: 'CS', text });

describe('Q/R identifiers', () => {
  it('read keys in either syntax, text in the identifier’s character set, binary values as numbers', () => {
    const request = Buffer.concat([
      implicit.encodeText(0x00080005, 'CS', 'ISO_IR 100'),
      implicit.encode(0x00100010, 'PN', Buffer.from('M\xfcller', 'latin1')),
      implicit.encode(0x00280010, 'US', Buffer.from([0x00, 0x02])),
    ]);
    const parsed = parseIdentifier(request, IMPLICIT);
    expect(parsed.encoding).toBe('latin1');
    expect(parsed.elements.map((e) => [e.tag, e.vr, e.text])).toEqual([
      [0x00080005, 'CS', 'ISO_IR 100'],
      [0x00100010, 'PN', 'Müller'],
      [0x00280010, 'US', '512'],
    ]);
  });

  it('answer in UTF-8 with ISO_IR 192 when a value is not ASCII, and sequences empty', () => {
    const bytes = identifier([
      { tag: 0x00100010, vr: 'PN', text: 'Müller^Jörg' },
      { tag: 0x00081032, vr: 'SQ' },
      { tag: 0x00080005, vr: 'CS', text: 'ISO_IR 100' },
    ]);
    const parsed = parseIdentifier(bytes, EXPLICIT);
    expect(parsed.encoding).toBe('utf8');
    expect(parsed.elements.map((e) => [e.tag, e.text, e.isSequence])).toEqual([
      [0x00080005, 'ISO_IR 192', false],
      [0x00081032, '', true],
      [0x00100010, 'Müller^Jörg', false],
    ]);
  });
});

describe('Q/R requests against the information model', () => {
  const refusal = (elements: ResponseElement[], model: 'PATIENT' | 'STUDY' = 'STUDY') => {
    try {
      qrRequest(identifier(elements), EXPLICIT, model);
    } catch (err) {
      expect(err).toBeInstanceOf(QrRequestError);
      const e = err as QrRequestError;
      return { status: e.status, message: e.message, offending: e.offending };
    }
    throw new Error('not refused');
  };

  it('takes the level, the keys at and above it, and skips universal ones', () => {
    const request = qrRequest(
      identifier([
        level('SERIES'),
        { tag: 0x00100020, vr: 'LO', text: 'PAT*' },
        { tag: 0x00080020, vr: 'DA', text: '20240101-' },
        { tag: 0x00080060, vr: 'CS', text: 'CT\\MR' },
        { tag: 0x0020000e, vr: 'UI' },
        { tag: 0x00080018, vr: 'UI' }, // an IMAGE key without a value: answered empty, not refused
        { tag: 0x00101030, vr: 'DS', text: '70' }, // not indexed: universal, with a warning status
      ]),
      EXPLICIT,
      'PATIENT',
    );
    expect(request.level).toBe('SERIES');
    expect(request.keys).toEqual([
      { keyword: 'StudyDate', matcher: { kind: 'range', from: '20240101', to: '' } },
      { keyword: 'Modality', matcher: { kind: 'list', values: ['CT', 'MR'] } },
      { keyword: 'PatientID', matcher: { kind: 'wildcard', pattern: 'PAT*' } },
    ]);
    expect(request.unsupportedKeys).toBe(true);
  });

  it('refuses with 0xA900 what does not fit the model and with 0xC000 what cannot be matched', () => {
    expect(refusal([{ tag: 0x00100020, vr: 'LO', text: 'X' }])).toMatchObject({
      status: 0xa900,
      offending: [0x00080052],
    });
    expect(refusal([level('PATIENT')])).toMatchObject({ status: 0xa900, message: /Study Root/ });
    expect(refusal([level('FRAME')], 'PATIENT')).toMatchObject({ status: 0xa900 });
    expect(refusal([level('STUDY'), { tag: 0x00080060, vr: 'CS', text: 'CT' }])).toMatchObject({
      status: 0xa900,
      offending: [0x00080060],
    });
    expect(refusal([level('STUDY'), { tag: 0x00080020, vr: 'DA', text: '2024' }])).toMatchObject({
      status: 0xc000,
      message: /^\(0008,0020\) StudyDate: "2024" is not a date/,
      offending: [0x00080020],
    });
    expect(refusal([level('STUDY'), { tag: 0x00201208, vr: 'IS', text: '3' }])).toMatchObject({
      status: 0xc000,
    });
  });
});

describe('sequence keys (C.2.2.2.6)', () => {
  const explicit = new Encoder(true, true);
  const tag = (t: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(t >>> 16, 0);
    b.writeUInt16LE(t & 0xffff, 2);
    b.writeUInt32LE(0xffffffff, 4);
    return b;
  };
  /** A sequence of undefined length as `vr` says (SQ, UN, or '' in implicit VR), its items of undefined length. */
  const sequence = (t: number, vr: 'SQ' | 'UN' | '', items: Buffer[]) => {
    const head = vr
      ? Buffer.concat([tag(t).subarray(0, 4), Buffer.from(`${vr}\0\0`), tag(t).subarray(4)])
      : tag(t);
    const delimiter = (e: number) => Buffer.from([0xfe, 0xff, e, 0xe0, 0, 0, 0, 0]);
    return Buffer.concat([
      head,
      ...items.flatMap((item) => [tag(0xfffee000), item, delimiter(0x0d)]),
      delimiter(0xdd),
    ]);
  };
  const codeValue = (enc: Encoder, text: string) => enc.encodeText(0x00080100, 'SH', text);

  it('are matched universally, answered empty, and flagged 0xFF01 only when an item carries a value', () => {
    const parse = (bytes: Buffer, ts = EXPLICIT) => qrRequest(bytes, ts, 'STUDY');
    const head = identifier([level('STUDY'), { tag: 0x00100020, vr: 'LO', text: 'PAT1' }]);
    const empty = parse(
      Buffer.concat([head, sequence(0x00081032, 'SQ', []), sequence(0x00081110, 'SQ', [Buffer.alloc(0)])]),
    );
    expect(empty.keys.map((k) => k.keyword)).toEqual(['PatientID']);
    expect(empty.unsupportedKeys).toBe(false);
    expect(empty.elements.filter((e) => e.isSequence).map((e) => [e.tag, e.itemKeys])).toEqual([
      [0x00081032, false],
      [0x00081110, false],
    ]);
    const returnKeys = parse(Buffer.concat([head, sequence(0x00081032, 'SQ', [codeValue(explicit, '')])]));
    expect(returnKeys.unsupportedKeys).toBe(false);
    const matching = parse(Buffer.concat([head, sequence(0x00081032, 'SQ', [codeValue(explicit, 'XYZ')])]));
    expect(matching.unsupportedKeys).toBe(true);
    expect(matching.keys.map((k) => k.keyword)).toEqual(['PatientID']);
    // A private sequence sent as UN (its items in implicit VR), and one in implicit VR: walked, not refused.
    const un = parse(Buffer.concat([head, sequence(0x00111010, 'UN', [codeValue(implicit, 'A')])]));
    expect(un.elements.find((e) => e.tag === 0x00111010)).toMatchObject({ vr: 'SQ', itemKeys: true });
    const inImplicit = parse(
      Buffer.concat([
        implicit.encodeText(0x00080052, 'CS', 'STUDY'),
        sequence(0x00111010, '', [codeValue(implicit, '')]),
      ]),
      IMPLICIT,
    );
    expect(inImplicit.elements.find((e) => e.tag === 0x00111010)).toMatchObject({
      isSequence: true,
      itemKeys: false,
    });
  });
});
