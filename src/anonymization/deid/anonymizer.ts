/**
 * The per-element work of de-identification: each element of the dataset, and of every sequence item,
 * gets its profile action (PS3.15 Table E.1-1), and the ones it changes are written anew in the dataset's
 * transfer syntax; what is kept stays a view of the input.
 *
 * A public element received as UN is handled with its dictionary VR and written with it (PS3.5 6.2.2): its
 * value is little endian whatever the transfer syntax, and a UN that holds a sequence (undefined length, or
 * a tag the dictionary knows as SQ) is read as implicit VR little endian items, processed like any other
 * sequence and written as SQ in the dataset's own syntax.
 */
import { attr, type DicomHeader } from '../../dicom/header.js';
import { Encoder, type Syntax } from '../../dicom/encode.js';
import { dictionaryVr } from '../../dicom/vr.js';
import type { DatasetWalker, RawElement } from '../../dicom/walker.js';
import { dummyValue, shiftDate } from './clean.js';
import { dateShiftDays, mapUid } from './derive.js';
import { actionFor, compileProfile, safePrivateKey, type Action, type CompiledProfile } from './profile.js';
import { IDENTIFYING_TAGS, TextScrubber, type IdentifyingValues } from './scrub.js';
import { TAG } from './tags.js';

const TEXT_VRS = new Set(['LO', 'SH', 'ST', 'LT', 'UT', 'UC', 'PN']);
/** What C cleans as text: free text, and AE titles (which often hold a site's or a person's name). */
const CLEANABLE_VRS = new Set([...TEXT_VRS, 'AE']);
const DATE_VRS = new Set(['DA', 'DT', 'TM']);
const OPAQUE_VRS = new Set(['OB', 'OW', 'OD', 'OF', 'OL', 'OV', 'UN']);
const IMPLICIT_LITTLE: Syntax = { explicit: false, littleEndian: true };

/** The Code Sequence Macro's code (PS3.3 8.8): value, scheme, version, meaning, long and URN values. */
const CODE_ATTRIBUTES: ReadonlySet<number> = new Set([
  0x00080100, 0x00080102, 0x00080103, 0x00080104, 0x00080119, 0x00080120,
]);
/**
 * Coding schemes of public terminologies (PS3.16 Table 8-1): a code from one of them names a concept, never
 * a person, so it is kept inside a sequence whose other text is replaced or cleaned. Codes of other (local,
 * private) schemes are treated as text.
 */
const PUBLIC_SCHEMES: ReadonlySet<string> = new Set(
  (
    'DCM SCT SRT SNM3 99SDM LN UCUM FMA RADLEX RADLEX_PLAYBOOK NCIt NCIT MDC ACR NEU NDC RXNORM UMLS I9C I10 ' +
    'I10P ICD10 ICD11 ICDO3 BI HPC ISO3166_1 ISO639_1 ISO639_2 CD2 PUBCHEM_CID MA MGI NCBI ITIS_TSN HUGO UNS ' +
    'UPC MSH ATC DC IBSI CTV3 SNOMED'
  ).split(' '),
);

/** Bytes per number of the binary VRs, for a value written in another byte order. */
const UNIT: Readonly<Record<string, number>> = {
  US: 2,
  SS: 2,
  OW: 2,
  AT: 2,
  UL: 4,
  SL: 4,
  FL: 4,
  OF: 4,
  OL: 4,
  FD: 8,
  OD: 8,
  SV: 8,
  UV: 8,
  OV: 8,
};

/** The VR to handle and write a public tag with: the dictionary's, a two-VR entry resolved. */
function realVr(tag: number, length: number): string | undefined {
  const vr = dictionaryVr(tag);
  if (!vr || /^[A-Z]{2}$/.test(vr)) return vr;
  // dcmjs's codes for entries with two VRs: US or SS, OB or OW, US or OW (LUT data).
  if (vr === 'xs') return 'US';
  if (vr === 'ox') return length % 2 ? 'OB' : 'OW';
  if (vr === 'lt') return 'OW';
  return undefined;
}

/** A value in `little`-endian order rewritten for `toLittle`. */
function inByteOrder(value: Buffer, vr: string, little: boolean, toLittle: boolean): Buffer {
  const unit = UNIT[vr];
  if (little === toLittle || !unit || value.length % unit) return value;
  const copy = Buffer.from(value);
  if (unit === 2) copy.swap16();
  else if (unit === 4) copy.swap32();
  else copy.swap64();
  return copy;
}

/** Where an element sits: plain, inside a sequence being replaced by dummies (D) or cleaned (C). */
export type Mode = 'normal' | 'dummy' | 'clean';

export interface Out {
  tag: number;
  bytes: Buffer;
  /** The element's bytes as they were in the input (so its parsed value is the input header's). */
  kept?: boolean;
}

/** Whether `bytes` is the input element itself, not a rewrite. */
const isVerbatim = (buf: Buffer, el: RawElement, bytes: Buffer) =>
  bytes.buffer === buf.buffer &&
  bytes.byteOffset === buf.byteOffset + el.start &&
  bytes.length === el.end - el.start;

export interface AnonymizerOptions {
  /** UIDs mapped to these values rather than derived (harmonized with earlier keys, or set by the user). */
  uids?: ReadonlyMap<string, string>;
}

export class Anonymizer extends Encoder {
  private readonly uids = new Map<string, string>();
  // Derived on first use: the Basic Profile alone never cleans text nor shifts dates.
  private scrubberMemo: TextScrubber | undefined;
  private dayShiftMemo: number | undefined;
  /** Overlay groups whose Overlay Data goes: the whole overlay goes with it (a plane without data is invalid). */
  private readonly overlayGone: boolean;
  /** The text encoding of the dataset's values (UTF-8 for ISO_IR 192; byte for byte otherwise). */
  private readonly encoding: BufferEncoding;
  newSopInstanceUid: string;

  constructor(
    readonly reader: DatasetWalker,
    private readonly profile: CompiledProfile,
    private readonly secret: Buffer | string,
    private readonly header: DicomHeader,
    private readonly root: readonly RawElement[],
    options: AnonymizerOptions = {},
  ) {
    super(reader.explicit, reader.littleEndian);
    this.overlayGone = actionFor(profile, 0x60003000) === 'X';
    this.newSopInstanceUid = header.sopInstanceUid;
    for (const [from, to] of options.uids ?? []) this.uids.set(from, to);
    this.encoding = attr(header, 'SpecificCharacterSet').includes('ISO_IR 192') ? 'utf8' : 'latin1';
  }

  private get buf() {
    return this.reader.buf;
  }

  private get dayShift(): number {
    return (this.dayShiftMemo ??= dateShiftDays(
      this.secret,
      attr(this.header, 'PatientName'),
      attr(this.header, 'PatientID'),
    ));
  }

  private get scrubber(): TextScrubber {
    return (this.scrubberMemo ??= new TextScrubber(this.identifyingValues()));
  }

  /** Every person name in the dataset and every value of an identifying attribute, nested ones too. */
  private identifyingValues(): IdentifyingValues {
    const found: IdentifyingValues = { names: [], values: [] };
    const visit = (list: readonly RawElement[], source: Syntax) => {
      for (const el of list) {
        if ((el.tag >>> 16) & 1) continue;
        if (el.items) {
          const inner = el.implicitItems ? IMPLICIT_LITTLE : source;
          for (const item of el.items) visit(item.elements, inner);
          continue;
        }
        const vr = this.vrOf(el, source);
        if (vr === 'PN') found.names.push(...this.decoded(el).split('\\'));
        else if (IDENTIFYING_TAGS.has(el.tag)) found.values.push({ tag: el.tag, value: this.decoded(el) });
      }
    };
    visit(this.root, this.reader);
    return found;
  }

  /** The element's VR: as written, or the dictionary's for implicit VR and for a public UN. */
  vrOf(el: RawElement, source: Syntax): string {
    if (el.items) return 'SQ';
    const length = el.end - el.start - el.headerLength;
    if (source.explicit) {
      const vr = this.buf.toString('latin1', el.start + 4, el.start + 6);
      if (vr !== 'UN' || (el.tag >>> 16) & 1 || el.undefinedLength) return vr;
      const known = realVr(el.tag, length);
      return known && known !== 'SQ' && (!UNIT[known] || length % UNIT[known]! === 0) ? known : vr;
    }
    return realVr(el.tag, length) ?? 'UN';
  }

  /** Whether the element's value is little endian: UN values always are (PS3.5 6.2.2). */
  private littleValue(el: RawElement, source: Syntax): boolean {
    if (source.explicit && this.buf.toString('latin1', el.start + 4, el.start + 6) === 'UN') return true;
    return source.littleEndian;
  }

  private value(el: RawElement): Buffer {
    return this.buf.subarray(el.start + el.headerLength, el.end);
  }

  /** Text as held (one byte per character), for UIDs, dates and codes. */
  private text(el: RawElement): string {
    return this.value(el)
      .toString('latin1')
      .replace(/[\0 ]+$/, '');
  }

  /** Text in the dataset's character set, for free text that is cleaned. */
  private decoded(el: RawElement): string {
    const value = this.value(el);
    if (this.encoding === 'utf8') {
      const text = value.toString('utf8');
      if (Buffer.from(text, 'utf8').equals(value)) return text.replace(/[\0 ]+$/, '');
    }
    return value.toString('latin1').replace(/[\0 ]+$/, '');
  }

  private encodeDecoded(tag: number, vr: string, text: string): Buffer {
    if (this.encoding !== 'utf8') return this.encodeText(tag, vr, text);
    let value = Buffer.from(text, 'utf8');
    if (value.length % 2) value = Buffer.concat([value, Buffer.from(' ')]);
    return this.encode(tag, vr, value);
  }

  /** The element as it is, or re-encoded when its VR or byte order is not the output's. */
  private keep(el: RawElement, vr: string, source: Syntax): Buffer {
    const sameSyntax = source.explicit === this.explicit && source.littleEndian === this.littleEndian;
    if (sameSyntax && (!this.explicit || this.buf.toString('latin1', el.start + 4, el.start + 6) === vr))
      return this.buf.subarray(el.start, el.end);
    if (el.undefinedLength) return this.buf.subarray(el.start, el.end);
    const value = inByteOrder(this.value(el), vr, this.littleValue(el, source), this.littleEndian);
    return this.encode(el.tag, vr, value);
  }

  mapUid(uid: string): string {
    let mapped = this.uids.get(uid);
    if (!mapped) {
      mapped = mapUid(this.secret, uid);
      this.uids.set(uid, mapped);
    }
    return mapped;
  }

  /** Processes one list of elements (the root dataset or an item) written in `source`. */
  elements(list: readonly RawElement[], mode: Mode, root: boolean, source: Syntax = this.reader): Out[] {
    const out: Out[] = [];
    const creators = privateCreators(this, list);
    const coded = mode !== 'normal' && this.publicCode(list);
    for (const el of list) {
      const tag = el.tag;
      const group = tag >>> 16;
      // Group lengths would be wrong after the rewrite; they are retired and optional.
      if ((tag & 0xffff) === 0) continue;
      if (root && (tag === TAG.PatientIdentityRemoved || tag === TAG.DeidentificationMethod)) continue;
      if (root && tag === TAG.DeidentificationMethodCodeSequence) continue;
      if (group & 1) {
        const kept = this.privateElement(el, creators, source);
        if (kept) out.push({ tag, bytes: kept, kept: isVerbatim(this.buf, el, kept) });
        continue;
      }
      if (this.overlayGone && (group & 0xff00) === 0x6000 && group <= 0x601e) continue;
      const vr = this.vrOf(el, source);
      const action =
        actionFor(this.profile, tag) ??
        (coded && CODE_ATTRIBUTES.has(tag) ? 'K' : this.unnamedAction(vr, mode));
      const bytes = this.apply(el, vr, action ?? 'K', mode, root, source);
      if (bytes) out.push({ tag, bytes, kept: isVerbatim(this.buf, el, bytes) });
    }
    return out;
  }

  /** Whether an item holds a code of a public terminology (see PUBLIC_SCHEMES). */
  private publicCode(list: readonly RawElement[]): boolean {
    const scheme = list.find((el) => el.tag === 0x00080102);
    return scheme !== undefined && PUBLIC_SCHEMES.has(this.text(scheme).trim());
  }

  /** What dates and times get where the table does not name them: kept, shifted, or a dummy. */
  private dateAction(mode: Mode): Action | undefined {
    if (this.profile.fullDates) return 'K';
    if (this.profile.modifiedDates) return 'C';
    return mode === 'normal' ? undefined : 'D';
  }

  /**
   * Elements the table does not name. In a D or C sequence, text is replaced or cleaned and person names
   * replaced. Dates and times anywhere move with the others under the Modified Dates option; in a D or C
   * sequence they get a dummy unless an option keeps them.
   */
  private unnamedAction(vr: string, mode: Mode): Action | undefined {
    if (DATE_VRS.has(vr)) return this.dateAction(mode);
    if (mode === 'normal') return undefined;
    if (vr === 'PN') return 'D';
    if (TEXT_VRS.has(vr)) return mode === 'dummy' ? 'D' : 'C';
    return undefined;
  }

  private apply(
    el: RawElement,
    vr: string,
    action: Action,
    mode: Mode,
    root: boolean,
    source: Syntax,
  ): Buffer | undefined {
    const tag = el.tag;
    switch (action) {
      case 'X':
        return undefined;
      case 'Z':
        if (el.items)
          // X/Z on a sequence with items: an empty Type 3 sequence is invalid and removing a Type 2 one
          // too, so its items stay, with dummy values (PS3.15 E.1.1 allows either alternative).
          return this.profile.removableSequences.has(tag) && el.items.length
            ? this.sequence(el, 'dummy', source)
            : this.encodeSequence(tag, []);
        return this.encode(tag, vr, Buffer.alloc(0));
      case 'K':
        if (el.items) return this.sequence(el, mode, source);
        return this.keep(el, vr, source);
      case 'D':
        if (el.items) return this.sequence(el, 'dummy', source);
        if (vr === 'UI') return this.uid(el, root);
        return this.encodeValue(tag, vr, dummyValue(vr));
      case 'U':
        if (el.items) return this.sequence(el, mode, source);
        if (vr === 'UI' || vr === 'UN') return this.uid(el, root);
        return this.encodeValue(tag, vr, dummyValue(vr));
      case 'C':
        return this.clean(el, vr, source);
    }
  }

  private uid(el: RawElement, root: boolean): Buffer {
    const mapped = this.text(el)
      .split('\\')
      .map((u) => u.trim())
      .map((u) => (u ? this.mapUid(u) : u))
      .join('\\');
    if (root && el.tag === TAG.SOPInstanceUID) this.newSopInstanceUid = mapped;
    return this.encodeText(el.tag, 'UI', mapped);
  }

  private clean(el: RawElement, vr: string, source: Syntax): Buffer | undefined {
    const tag = el.tag;
    if (el.items) return this.sequence(el, 'clean', source);
    if (vr === 'DA' || vr === 'DT') {
      if (this.profile.fullDates) return this.keep(el, vr, source);
      if (!this.profile.modifiedDates) return this.encodeValue(tag, vr, dummyValue(vr));
      const shifted = this.text(el)
        .split('\\')
        .map((v) => (v.trim() ? (shiftDate(v, this.dayShift) ?? '') : ''))
        .join('\\');
      return this.encodeText(tag, vr, shifted);
    }
    // Whole days move dates only: times keep their meaning (PS3.15 E.3.6 allows either).
    if (vr === 'TM') return this.keep(el, vr, source);
    if (vr === 'PN') return this.encodeText(tag, vr, 'ANONYMOUS');
    if (CLEANABLE_VRS.has(vr)) {
      const text = this.decoded(el);
      const cleaned = this.scrubber.scrub(text);
      // Nothing left of a value that said something: a dummy, so a Type 1 attribute stays valid.
      if (!cleaned && text.trim()) return this.encodeValue(tag, vr, dummyValue(vr));
      return this.encodeDecoded(tag, vr, cleaned);
    }
    // Overlay bitmaps and curve samples (Clean Graphics) and numbers are kept: see README.
    const group = tag >>> 16;
    if ((group & 0xff00) === 0x6000 || (group & 0xff00) === 0x5000 || !OPAQUE_VRS.has(vr))
      return this.keep(el, vr, source);
    // Opaque bytes (a timestamp token, a maker note) cannot be cleaned: what the profile does without the
    // option applies.
    const basic = actionFor(compileProfile([]), tag) ?? 'X';
    return basic === 'C' ? undefined : this.apply(el, vr, basic, 'normal', false, source);
  }

  private sequence(el: RawElement, mode: Mode, source: Syntax): Buffer {
    const inner = el.implicitItems ? IMPLICIT_LITTLE : source;
    return this.encodeSequence(
      el.tag,
      el.items!.map((item) => this.elements(item.elements, mode, false, inner).map((o) => o.bytes)),
    );
  }

  /** A private element kept as safe (Retain Safe Private), or removed. */
  private privateElement(el: RawElement, creators: Map<number, string>, source: Syntax): Buffer | undefined {
    if (this.profile.privateAction !== 'C' || !this.profile.safePrivate.size) return undefined;
    const group = el.tag >>> 16;
    const element = el.tag & 0xffff;
    let safe: boolean;
    if (element >= 0x0010 && element <= 0x00ff)
      // A creator stays when it reserves a block holding a safe element of this list.
      safe = creators.has((group << 8) | element) && this.creatorNeeded(group, element, creators);
    else if (element < 0x1000) safe = false;
    else {
      const creator = creators.get((group << 8) | (element >>> 8));
      safe =
        creator !== undefined && this.profile.safePrivate.has(safePrivateKey(group, creator, element & 0xff));
    }
    if (!safe) return undefined;
    // A sequence kept from items in another syntax (inside a UN) is written anew; otherwise as it is.
    const sameSyntax = source.explicit === this.explicit && source.littleEndian === this.littleEndian;
    if (el.items && !el.implicitItems && !sameSyntax) return this.sequence(el, 'normal', source);
    return this.keep(el, this.vrOf(el, source), source);
  }

  private creatorNeeded(group: number, block: number, creators: Map<number, string>): boolean {
    const creator = creators.get((group << 8) | block)!;
    for (let ee = 0; ee < 256; ee++)
      if (this.profile.safePrivate.has(safePrivateKey(group, creator, ee))) return true;
    return false;
  }
}

/** Private creators of a list of elements: `(group << 8) | block` → creator string. */
function privateCreators(anonymizer: Anonymizer, list: readonly RawElement[]): Map<number, string> {
  const creators = new Map<number, string>();
  for (const el of list) {
    const group = el.tag >>> 16;
    const element = el.tag & 0xffff;
    if (group & 1 && element >= 0x0010 && element <= 0x00ff && !el.items) {
      const value = anonymizer.reader.buf
        .subarray(el.start + el.headerLength, el.end)
        .toString('latin1')
        .replace(/[\0 ]+$/, '')
        .trim();
      creators.set((group << 8) | element, value);
    }
  }
  return creators;
}
