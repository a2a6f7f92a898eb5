/**
 * Tag trees: paths from the dataset root into sequences, as tag filters name them. A tree is a list of
 * steps from the root; every step but the last is a sequence with an item (`1`-based, or `*` for any
 * item); the last step is an attribute, or a sequence item (a "trunk", covering everything inside it).
 *
 * Two written forms, both Slicebox's: the string form `(0008,1140)[1].(0008,1150)` (keywords accepted on
 * input: `ReferencedImageSequence[*].ReferencedSOPInstanceUID`), and the JSON form written leaf outwards,
 * `{"tag":528720,"name":"ReferencedSOPInstanceUID","previous":{"tag":528704,"name":"…","item":"*"}}`.
 */
import dcmjs from 'dcmjs';
import { BadRequestError } from '../errors.js';

const { DicomMetaDictionary } = dcmjs.data;

export type ItemIndex = number | '*';

export interface TagTreeStep {
  readonly tag: number;
  /** On every step but the last; on the last only when the tree ends at a sequence item. */
  readonly item?: ItemIndex;
}
export type TagTree = readonly TagTreeStep[];

/** Slicebox's TagTree / TagPath JSON, leaf outwards. */
export interface TagTreeJson {
  tag: number;
  name: string;
  item?: string;
  previous?: TagTreeJson;
}

export class TagPathError extends BadRequestError {}

/** `(GGGG,EEEE)` in upper-case hex. */
export function tagString(tag: number): string {
  const hex = (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

/** The dictionary keyword of a tag, or '' when it has none (private and unknown tags). */
export function keywordOf(tag: number): string {
  const entry = DicomMetaDictionary.dictionary[tagString(tag)] as { name?: string } | undefined;
  return entry?.name ?? '';
}

/** The tag of a dictionary keyword, or undefined. */
export function tagOfKeyword(keyword: string): number | undefined {
  const entry = DicomMetaDictionary.nameMap[keyword] as { tag?: string } | undefined;
  if (!entry?.tag || !/^\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\)$/.test(entry.tag)) return undefined;
  return parseInt(entry.tag.replace(/[(),]/g, ''), 16);
}

/** Whether the dictionary knows the tag as a sequence (implicit VR data does not say). */
function parseItem(text: string, where: string): ItemIndex {
  if (text === '*') return '*';
  if (!/^[1-9]\d{0,8}$/.test(text))
    throw new TagPathError(`${where}: item must be a positive integer or "*", got "${text}"`);
  return Number(text);
}

/** Parses the string form; keywords are accepted in place of `(GGGG,EEEE)`. */
export function parseTagTree(text: string): TagTree {
  const trimmed = text.trim();
  if (!trimmed) throw new TagPathError('empty tag path');
  const steps = trimmed.split('.').map((part): TagTreeStep => {
    const m = /^(?:\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)|([A-Za-z][A-Za-z0-9]*))(?:\[([^\]]*)\])?$/.exec(
      part,
    );
    if (!m) throw new TagPathError(`"${text}": cannot read "${part}"`);
    let tag: number;
    if (m[3] !== undefined) {
      const found = tagOfKeyword(m[3]);
      if (found === undefined) throw new TagPathError(`"${text}": unknown keyword "${m[3]}"`);
      tag = found;
    } else tag = parseInt(m[1] + m[2], 16);
    return m[4] === undefined ? { tag } : { tag, item: parseItem(m[4], `"${text}"`) };
  });
  checkSteps(steps, `"${text}"`);
  return steps;
}

function checkSteps(steps: TagTreeStep[], where: string): void {
  steps.forEach((step, i) => {
    if (i < steps.length - 1 && step.item === undefined)
      throw new TagPathError(`${where}: ${tagString(step.tag)} leads into a sequence and needs an item`);
  });
}

/** The string form, as stored in the state store. */
export function formatTagTree(tree: TagTree): string {
  return tree.map((s) => tagString(s.tag) + (s.item === undefined ? '' : `[${s.item}]`)).join('.');
}

/** Reads the JSON form: `tag` or `name` on each node; an unknown keyword without a tag is an error. */
export function tagTreeFromJson(json: unknown): TagTree {
  const steps: TagTreeStep[] = [];
  let node = json;
  for (let depth = 0; node !== undefined && node !== null; depth++) {
    if (depth > 64) throw new TagPathError('tag path is nested deeper than 64 levels');
    if (typeof node !== 'object' || Array.isArray(node)) throw new TagPathError('tag path must be an object');
    const { tag, name, item, previous } = node as Record<string, unknown>;
    let resolved: number;
    if (tag !== undefined && tag !== null) {
      if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < 0 || tag > 0xffffffff)
        throw new TagPathError(`tag must be an integer between 0 and 4294967295, got ${JSON.stringify(tag)}`);
      resolved = tag;
    } else if (typeof name === 'string') {
      const found = tagOfKeyword(name);
      if (found === undefined) throw new TagPathError(`unknown keyword "${name}"`);
      resolved = found;
    } else throw new TagPathError('each tag path node needs a tag or a name');
    let index: ItemIndex | undefined;
    if (item !== undefined && item !== null) {
      if (typeof item !== 'string' && typeof item !== 'number')
        throw new TagPathError(`item must be a string, got ${JSON.stringify(item)}`);
      index = parseItem(String(item), tagString(resolved));
    }
    steps.unshift(index === undefined ? { tag: resolved } : { tag: resolved, item: index });
    node = previous;
  }
  if (!steps.length) throw new TagPathError('tag path is missing');
  checkSteps(steps, 'tag path');
  return steps;
}

/** Writes the JSON form, leaf outwards. */
export function tagTreeToJson(tree: TagTree): TagTreeJson {
  let out: TagTreeJson | undefined;
  for (const step of tree) {
    const node: TagTreeJson = { tag: step.tag, name: keywordOf(step.tag) };
    if (step.item !== undefined) node.item = String(step.item);
    if (out) node.previous = out;
    out = node;
  }
  return out!;
}

/** One step of an element's actual position: a tag, with the item index when it is a sequence passed through. */
export interface PathStep {
  tag: number;
  item?: number;
}

const stepMatches = (tree: TagTreeStep, path: PathStep): boolean =>
  tree.tag === path.tag && (tree.item === '*' || tree.item === path.item);

/**
 * Where an element (path ends at a tag) or an item (path's last step has an item) stands relative to a tree:
 * `covered` when it lies at or below it, `ancestor` when the tree lies inside it, else `outside`.
 */
export function relation(tree: TagTree, path: readonly PathStep[]): 'covered' | 'ancestor' | 'outside' {
  const n = Math.min(tree.length, path.length);
  for (let i = 0; i < n - 1; i++) if (!stepMatches(tree[i], path[i])) return 'outside';
  const t = tree[n - 1];
  const p = path[n - 1];
  if (t.tag !== p.tag) return 'outside';
  const pathGoesOn = path.length > n || p.item !== undefined;
  const treeGoesOn = tree.length > n || t.item !== undefined;
  if (!treeGoesOn) return 'covered'; // the tree ends at this tag: the element and everything below it
  if (!pathGoesOn) return 'ancestor'; // the path ends at the sequence element the tree goes into
  if (!stepMatches(t, p)) return 'outside';
  // Both pass through the same item: covered when the tree ends there, else the item holds the tree.
  return tree.length === n ? 'covered' : 'ancestor';
}
