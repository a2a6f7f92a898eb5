/**
 * The per-element work of de-identification: each element of the dataset, and of every sequence item,
 * gets its profile action (PS3.15 Table E.1-1), and the ones it changes are written anew in the dataset's
 * transfer syntax; what is kept stays a view of the input.
 */
import { attr, type DicomHeader } from '../../dicom/header.js';
import { Encoder } from '../../dicom/encode.js';
import { dictionaryVr } from '../../dicom/vr.js';
import type { DatasetWalker, RawElement } from '../../dicom/walker.js';
import { buildScrubber, dummyValue, scrubText, shiftDate } from './clean.js';
import { dateShiftDays, mapUid } from './derive.js';
import { actionFor, safePrivateKey, type Action, type CompiledProfile } from './profile.js';
import { TAG } from './tags.js';

const TEXT_VRS = new Set(['LO', 'SH', 'ST', 'LT', 'UT', 'UC', 'PN']);

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

export class Anonymizer extends Encoder {
  private readonly uids = new Map<string, string>();
  // Both derived on first use: the Basic Profile alone never cleans text nor shifts dates.
  private scrubberMemo: { pattern: RegExp | undefined } | undefined;
  private dayShiftMemo: number | undefined;
  /** Overlay groups whose Overlay Data goes: the whole overlay goes with it (a plane without data is invalid). */
  private readonly overlayGone: boolean;
  newSopInstanceUid: string;

  constructor(
    readonly reader: DatasetWalker,
    private readonly profile: CompiledProfile,
    private readonly secret: Buffer | string,
    private readonly header: DicomHeader,
  ) {
    super(reader.explicit, reader.littleEndian);
    this.overlayGone = actionFor(profile, 0x60003000) === 'X';
    this.newSopInstanceUid = header.sopInstanceUid;
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

  private get scrubber(): RegExp | undefined {
    return (this.scrubberMemo ??= { pattern: buildScrubber(this.header) }).pattern;
  }

  vrOf(el: RawElement): string {
    if (this.explicit) {
      const vr = this.buf.toString('latin1', el.start + 4, el.start + 6);
      // A public attribute sent as UN (converted from implicit VR by a peer that did not know it) is
      // handled, and rewritten, with its dictionary VR, so its text is cleaned like any other.
      if (vr === 'UN' && !el.items && !el.undefinedLength && !((el.tag >>> 16) & 1)) {
        const known = dictionaryVr(el.tag);
        return known && known !== 'SQ' ? known : vr;
      }
      return vr;
    }
    if (el.items) return 'SQ';
    return dictionaryVr(el.tag) ?? 'UN';
  }

  private value(el: RawElement): Buffer {
    return this.buf.subarray(el.start + el.headerLength, el.end);
  }

  private text(el: RawElement): string {
    return this.value(el)
      .toString('latin1')
      .replace(/[\0 ]+$/, '');
  }

  mapUid(uid: string): string {
    let mapped = this.uids.get(uid);
    if (!mapped) {
      mapped = mapUid(this.secret, uid);
      this.uids.set(uid, mapped);
    }
    return mapped;
  }

  /** Processes one list of elements (the root dataset or an item). */
  elements(list: readonly RawElement[], mode: Mode, root: boolean): Out[] {
    const out: Out[] = [];
    const creators = privateCreators(this, list);
    for (const el of list) {
      const tag = el.tag;
      const group = tag >>> 16;
      // Group lengths would be wrong after the rewrite; they are retired and optional.
      if ((tag & 0xffff) === 0) continue;
      if (root && (tag === TAG.PatientIdentityRemoved || tag === TAG.DeidentificationMethod)) continue;
      if (root && tag === TAG.DeidentificationMethodCodeSequence) continue;
      if (group & 1) {
        const kept = this.privateElement(el, creators);
        if (kept) out.push({ tag, bytes: kept, kept: true });
        continue;
      }
      if (this.overlayGone && (group & 0xff00) === 0x6000 && group <= 0x601e) continue;
      const vr = this.vrOf(el);
      let action = actionFor(this.profile, tag);
      if (action === undefined && mode !== 'normal') action = this.unnamedAction(vr, mode);
      const bytes = this.apply(el, vr, action ?? 'K', mode, root);
      if (bytes) out.push({ tag, bytes, kept: isVerbatim(this.buf, el, bytes) });
    }
    return out;
  }

  /** Elements a D or C sequence holds and the table does not name: text is replaced or cleaned, dates follow StudyDate. */
  private unnamedAction(vr: string, mode: Mode): Action | undefined {
    if (vr === 'PN') return 'D';
    if (TEXT_VRS.has(vr)) return mode === 'dummy' ? 'D' : 'C';
    if (vr === 'DA' || vr === 'DT') return actionFor(this.profile, TAG.StudyDate);
    if (vr === 'TM') return actionFor(this.profile, TAG.StudyTime);
    return undefined;
  }

  private apply(el: RawElement, vr: string, action: Action, mode: Mode, root: boolean): Buffer | undefined {
    const tag = el.tag;
    switch (action) {
      case 'X':
        return undefined;
      case 'Z':
        if (el.items) return this.encodeSequence(tag, []);
        return this.encode(tag, vr, Buffer.alloc(0));
      case 'K':
        if (el.items) return this.sequence(el, mode);
        return this.buf.subarray(el.start, el.end);
      case 'D':
        if (el.items) return this.sequence(el, 'dummy');
        if (vr === 'UI') return this.uid(el, root);
        return this.encodeValue(tag, vr, dummyValue(vr));
      case 'U':
        if (el.items) return this.sequence(el, mode);
        if (vr === 'UI' || vr === 'UN') return this.uid(el, root);
        return this.encodeValue(tag, vr, dummyValue(vr));
      case 'C':
        return this.clean(el, vr);
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

  private clean(el: RawElement, vr: string): Buffer | undefined {
    const tag = el.tag;
    if (el.items) return this.sequence(el, 'clean');
    if (vr === 'DA' || vr === 'DT') {
      if (!this.profile.modifiedDates) return this.encodeValue(tag, vr, dummyValue(vr));
      const shifted = this.text(el)
        .split('\\')
        .map((v) => (v.trim() ? (shiftDate(v, this.dayShift) ?? '') : ''))
        .join('\\');
      return this.encodeText(tag, vr, shifted);
    }
    // Whole days move dates only: times keep their meaning (PS3.15 E.3.6 allows either).
    if (vr === 'TM') return this.buf.subarray(el.start, el.end);
    if (vr === 'PN') return this.encodeText(tag, vr, 'ANONYMOUS');
    if (TEXT_VRS.has(vr)) return this.encodeText(tag, vr, scrubText(this.text(el), this.scrubber));
    // Binary graphics (overlay bitmaps, curve samples) and numbers are kept: see README.
    return this.buf.subarray(el.start, el.end);
  }

  private sequence(el: RawElement, mode: Mode): Buffer {
    return this.encodeSequence(
      el.tag,
      el.items!.map((item) => this.elements(item.elements, mode, false).map((o) => o.bytes)),
    );
  }

  /** A private element kept as safe (Retain Safe Private), or removed. */
  private privateElement(el: RawElement, creators: Map<number, string>): Buffer | undefined {
    if (this.profile.privateAction !== 'C' || !this.profile.safePrivate.size) return undefined;
    const group = el.tag >>> 16;
    const element = el.tag & 0xffff;
    if (element >= 0x0010 && element <= 0x00ff) {
      // A creator stays when it reserves a block holding a safe element of this list.
      return creators.has((group << 8) | element) && this.creatorNeeded(group, element, creators)
        ? this.buf.subarray(el.start, el.end)
        : undefined;
    }
    if (element < 0x1000) return undefined;
    const creator = creators.get((group << 8) | (element >>> 8));
    if (creator === undefined) return undefined;
    return this.profile.safePrivate.has(safePrivateKey(group, creator, element & 0xff))
      ? this.buf.subarray(el.start, el.end)
      : undefined;
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
