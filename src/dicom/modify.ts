/**
 * Sets attribute values in a Part-10 file at the byte level, for `PUT /api/images/{id}/modify`: each mapping
 * names an attribute by tag path (into sequence items too) and its new value as text. An attribute that
 * exists is replaced, one that does not is inserted in tag order (its item must exist). Everything else is
 * copied bit for bit, compressed pixel data included; only the lengths of the sequences and items on the way
 * change, and group lengths of the dataset (retired) are left out. SOPClassUID and SOPInstanceUID changes are
 * mirrored into the file meta information.
 */
import { deflateRawSync } from 'node:zlib';
import { BadRequestError, SluiceError } from '../errors.js';
import { parseHeader, type DicomHeader } from './header.js';
import { splitPart10 } from './part10.js';
import { DatasetWalker, type RawElement, type RawItem } from './walker.js';
import { elementHeader, encodeElement, type Syntax } from './encode.js';
import { charsetOf, encodeValue, isTextWritable, type Charset } from './values.js';
import { formatTagTree, tagString, type TagTree } from './tag-path.js';
import { unambiguousDictionaryVr } from './vr.js';

export interface TagMapping {
  readonly tree: TagTree;
  readonly value: string;
}

const SOP_CLASS_UID = 0x00080016;
const SOP_INSTANCE_UID = 0x00080018;
const SPECIFIC_CHARACTER_SET = 0x00080005;
const PIXEL_DATA = 0x7fe00010;

/** Mappings arranged by where they apply: values at this level, and deeper ones per sequence and item. */
interface Level {
  values: Map<number, { value: string; path: string }>;
  items: Map<number, Map<number, Level>>;
}
const newLevel = (): Level => ({ values: new Map(), items: new Map() });

/** Checks the mappings and arranges them into levels; every problem is a 400 naming the path. */
function arrange(mappings: readonly TagMapping[]): Level {
  const root = newLevel();
  for (const { tree, value } of mappings) {
    const path = formatTagTree(tree);
    const fail = (reason: string): never => {
      throw new BadRequestError(`tag path ${path}: ${reason}`);
    };
    if (typeof value !== 'string') fail('value must be a string');
    let level = root;
    tree.forEach((step, i) => {
      if (step.tag >>> 16 === 0x0002) fail('the file meta information (group 0002) cannot be modified');
      if (step.tag >>> 16 === 0xfffe) fail('item and delimiter tags are not attributes');
      if (i < tree.length - 1) {
        if (step.item === '*') fail('"*" is for tag filters; a modification names one item');
        let byItem = level.items.get(step.tag);
        if (!byItem) level.items.set(step.tag, (byItem = new Map()));
        let next = byItem.get(step.item as number);
        if (!next) byItem.set(step.item as number, (next = newLevel()));
        level = next;
        return;
      }
      if (step.item !== undefined) fail('ends at a sequence item; it must end at an attribute');
      if ((step.tag & 0xffff) === 0) fail('group lengths are computed, not set');
      if (step.tag === PIXEL_DATA) fail('pixel data cannot be set from text');
      if (level.values.has(step.tag)) fail('named twice');
      level.values.set(step.tag, { value, path });
    });
  }
  // A tag that is both set and entered as a sequence is contradictory.
  const check = (level: Level) => {
    for (const [tag, byItem] of level.items) {
      const leaf = level.values.get(tag);
      if (leaf)
        throw new BadRequestError(`tag path ${leaf.path}: the same tag is also entered as a sequence`);
      for (const next of byItem.values()) check(next);
    }
  };
  check(root);
  return root;
}

class Rewriter {
  constructor(
    private readonly reader: DatasetWalker,
    private readonly syntax: Syntax,
    private readonly charset: Charset,
  ) {}

  private get buf(): Buffer {
    return this.reader.buf;
  }

  private writeU32(target: Buffer, offset: number, value: number): void {
    if (this.syntax.littleEndian) target.writeUInt32LE(value, offset);
    else target.writeUInt32BE(value, offset);
  }

  /** The elements of one level, with the level's values set and its sequences entered. */
  elements(list: readonly RawElement[], level: Level, where: string): Buffer[] {
    const out: Buffer[] = [];
    const pending = [...level.values.keys()].filter((tag) => !list.some((e) => e.tag === tag));
    pending.sort((a, b) => a - b);
    const insertUpTo = (tag: number) => {
      while (pending.length && pending[0] < tag) {
        const t = pending.shift()!;
        out.push(this.newElement(t, level.values.get(t)!));
      }
    };
    for (const element of list) {
      insertUpTo(element.tag);
      // Group lengths would be wrong once a length changes; they are retired and optional.
      if ((element.tag & 0xffff) === 0 && element.tag >>> 16 !== 0xfffe) continue;
      const mapped = level.values.get(element.tag);
      const byItem = level.items.get(element.tag);
      if (mapped) out.push(this.replaced(element, mapped));
      else if (byItem) out.push(this.sequence(element, byItem, where));
      else out.push(this.buf.subarray(element.start, element.end));
    }
    insertUpTo(0x100000000);
    for (const [tag, byItem] of level.items)
      if (!list.some((e) => e.tag === tag)) {
        const [item] = byItem.keys();
        throw new BadRequestError(
          `tag path ${where}${tagString(tag)}[${item}]…: the sequence ${tagString(tag)} does not exist there`,
        );
      }
    return out;
  }

  private vrOf(element: RawElement): string {
    return this.syntax.explicit ? this.buf.toString('latin1', element.start + 4, element.start + 6) : '';
  }

  private replaced(element: RawElement, mapped: { value: string; path: string }): Buffer {
    if (element.items)
      throw new BadRequestError(`tag path ${mapped.path}: is a sequence; set attributes inside its items`);
    let vr = this.vrOf(element);
    if (!vr || vr === 'UN') vr = unambiguousDictionaryVr(element.tag) ?? '';
    if (!vr)
      throw new BadRequestError(
        `tag path ${mapped.path}: its VR is not known (private or ambiguous element in implicit VR data)`,
      );
    return this.encode(element.tag, vr, mapped);
  }

  private newElement(tag: number, mapped: { value: string; path: string }): Buffer {
    const vr = unambiguousDictionaryVr(tag);
    if (!vr)
      throw new BadRequestError(
        `tag path ${mapped.path}: not in the file, and its VR is not known, so it cannot be added`,
      );
    if (vr === 'SQ') throw new BadRequestError(`tag path ${mapped.path}: is a sequence; it cannot be set`);
    return this.encode(tag, vr, mapped);
  }

  private encode(tag: number, vr: string, mapped: { value: string; path: string }): Buffer {
    if (!isTextWritable(vr))
      throw new BadRequestError(`tag path ${mapped.path}: a value of VR ${vr} cannot be set from text`);
    const value = encodeValue(vr, mapped.value, {
      charset: this.charset,
      syntax: this.syntax,
      what: `tag path ${mapped.path}`,
    });
    return encodeElement(tag, vr, value, this.syntax);
  }

  private sequence(element: RawElement, byItem: Map<number, Level>, where: string): Buffer {
    const name = `${where}${tagString(element.tag)}`;
    if (!element.items)
      throw new BadRequestError(`tag path ${name}[…]: ${tagString(element.tag)} is not a sequence`);
    const items = element.items;
    for (const index of byItem.keys())
      if (index > items.length)
        throw new BadRequestError(
          `tag path ${name}[${index}]…: the sequence has ${items.length} item${items.length === 1 ? '' : 's'}`,
        );
    const rebuilt = items.map((item, i) => {
      const level = byItem.get(i + 1);
      if (!level) return this.buf.subarray(item.start, item.end);
      return this.item(item, this.elements(item.elements, level, `${name}[${i + 1}].`));
    });
    const header = Buffer.from(this.buf.subarray(element.start, element.start + element.headerLength));
    if (element.undefinedLength)
      return Buffer.concat([header, ...rebuilt, this.buf.subarray(element.end - 8, element.end)]);
    this.writeU32(header, element.lengthOffset - element.start, sum(rebuilt));
    return Buffer.concat([header, ...rebuilt]);
  }

  private item(item: RawItem, content: Buffer[]): Buffer {
    const header = Buffer.from(this.buf.subarray(item.start, item.start + 8));
    if (item.undefinedLength)
      return Buffer.concat([header, ...content, this.buf.subarray(item.end - 8, item.end)]);
    this.writeU32(header, 4, sum(content));
    return Buffer.concat([header, ...content]);
  }
}

const sum = (parts: readonly Buffer[]) => parts.reduce((n, b) => n + b.length, 0);

/**
 * Applies the mappings to a Part-10 file. Returns the new bytes and their header (the result is read back
 * before it is returned). Bad paths and values are BadRequestErrors (400).
 */
export function modifyAttributes(
  file: Buffer,
  mappings: readonly TagMapping[],
): { bytes: Buffer; header: DicomHeader } {
  if (!mappings.length) throw new BadRequestError('no tag mappings given');
  const root = arrange(mappings);
  const header = parseHeader(file);
  const {
    meta: storedMeta,
    dataset,
    deflated,
    explicit,
    littleEndian,
  } = splitPart10(file, header.transferSyntaxUid);
  const syntax: Syntax = { explicit, littleEndian };
  const reader = new DatasetWalker(dataset, syntax.explicit, syntax.littleEndian);
  const elements = reader.elements(0, dataset.length, 0).elements;
  // From the bytes: dcmjs reports every character set as ISO_IR 192 once it has decoded the values.
  const stored = elements.find((e) => e.tag === SPECIFIC_CHARACTER_SET);
  const characterSet =
    root.values.get(SPECIFIC_CHARACTER_SET)?.value ??
    (stored ? dataset.toString('latin1', stored.start + stored.headerLength, stored.end) : '');
  // A character set we cannot write (ISO 2022 extensions, other single-byte sets) leaves ASCII only.
  const charset = charsetOf(characterSet) ?? 'ascii';
  const parts = new Rewriter(reader, syntax, charset).elements(elements, root, '');
  const body = Buffer.concat(parts);
  const meta = rewriteMeta(storedMeta, {
    sopClassUid: root.values.get(SOP_CLASS_UID)?.value,
    sopInstanceUid: root.values.get(SOP_INSTANCE_UID)?.value,
  });
  const bytes = Buffer.concat([meta, deflated ? deflateRawSync(body) : body]);
  try {
    return { bytes, header: parseHeader(bytes) };
  } catch (err) {
    if (err instanceof SluiceError && err.httpStatus === 400)
      throw new BadRequestError(`the modified instance would not be accepted: ${err.message}`);
    throw err;
  }
}

/** The file meta with MediaStorageSOPClassUID / MediaStorageSOPInstanceUID following the dataset. */
function rewriteMeta(meta: Buffer, uids: { sopClassUid?: string; sopInstanceUid?: string }): Buffer {
  if (uids.sopClassUid === undefined && uids.sopInstanceUid === undefined) return meta;
  const syntax: Syntax = { explicit: true, littleEndian: true };
  const group = meta.subarray(132);
  const reader = new DatasetWalker(group, true, true);
  const level = newLevel();
  if (uids.sopClassUid !== undefined)
    level.values.set(0x00020002, {
      value: uids.sopClassUid,
      path: `${tagString(SOP_CLASS_UID)} (file meta)`,
    });
  if (uids.sopInstanceUid !== undefined)
    level.values.set(0x00020003, {
      value: uids.sopInstanceUid,
      path: `${tagString(SOP_INSTANCE_UID)} (file meta)`,
    });
  const elements = new Rewriter(reader, syntax, 'ascii').elements(
    reader.elements(0, group.length, 0).elements,
    level,
    '',
  );
  const length = sum(elements);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(length, 0);
  return Buffer.concat([
    meta.subarray(0, 132),
    elementHeader(0x00020000, 'UL', 4, syntax),
    groupLength,
    ...elements,
  ]);
}
