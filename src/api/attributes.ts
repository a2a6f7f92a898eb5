import dcmjs from 'dcmjs';
import type { DicomDataset, DicomElement, DicomHeader } from '../dicom/header.js';

/** Slicebox's TagPath JSON: a linked list from the leaf outwards. */
export interface TagPathJson {
  tag: number;
  name: string;
  item?: string;
  previous?: TagPathJson;
}

export interface ImageAttribute {
  tagPath: TagPathJson;
  namePath: string[];
  vr: string;
  length: number;
  values: string[];
}

const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
const dictionary = dcmjs.data.DicomMetaDictionary.dictionary;

function keyword(tag: string): string {
  return dictionary[`(${tag.slice(0, 4)},${tag.slice(4)})`]?.name ?? '';
}

function valueStrings(el: DicomElement): { values: string[]; length: number } {
  const raw = el.Value ?? [];
  if (BINARY_VRS.has(el.vr)) {
    const length = raw.reduce<number>((n, v) => n + ((v as ArrayBuffer)?.byteLength ?? 0), 0);
    return {
      values:
        length > 20 ? ['< Binary data >'] : raw.map((v) => Buffer.from(v as ArrayBuffer).toString('hex')),
      length,
    };
  }
  const values = raw.map((v) =>
    v !== null && typeof v === 'object' && 'Alphabetic' in v
      ? String((v as { Alphabetic: string }).Alphabetic ?? '')
      : String(v ?? ''),
  );
  return { values, length: Buffer.byteLength(values.join('\\'), 'latin1') };
}

/** The attributes of an instance up to the pixel data, sequences flattened with their tag paths. */
export function imageAttributes(header: DicomHeader): ImageAttribute[] {
  const out: ImageAttribute[] = [];
  const walk = (dataset: DicomDataset, previous: TagPathJson | undefined, names: string[]) => {
    for (const tag of Object.keys(dataset).sort()) {
      if (tag === '7FE00010') continue;
      const el = dataset[tag];
      const name = keyword(tag);
      const tagPath: TagPathJson = { tag: parseInt(tag, 16), name, ...(previous ? { previous } : {}) };
      if (el.vr === 'SQ') {
        const items = (el.Value ?? []) as DicomDataset[];
        out.push({ tagPath, namePath: [...names, name], vr: 'SQ', length: -1, values: [] });
        items.forEach((item, i) => walk(item, { ...tagPath, item: String(i + 1) }, [...names, name]));
        continue;
      }
      const { values, length } = valueStrings(el);
      out.push({ tagPath, namePath: [...names, name], vr: el.vr, length, values });
    }
  };
  walk(header.dataset, undefined, []);
  return out;
}
