/**
 * The DICOM JSON model (PS3.18 F.2): attributes keyed by their tag in eight upper-case hex digits, each
 * `{ vr, Value }` (person names as `{ Alphabetic }`, numbers as JSON numbers), bulk data by URI.
 */
import type { DicomDataset, DicomElement } from '../../dicom/header.js';

export interface JsonElement {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}
export type DicomJson = Record<string, JsonElement>;

const NUMBER_VRS = new Set(['IS', 'DS', 'SL', 'SS', 'UL', 'US', 'FL', 'FD', 'SV', 'UV']);
const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);

export const tagKey = (tag: number) => tag.toString(16).toUpperCase().padStart(8, '0');

/** An attribute from its text as the index holds it (values joined by `\`). */
export function jsonElement(vr: string, text: string | undefined): JsonElement {
  if (text === undefined || text === '') return { vr };
  const values = text.split('\\');
  if (vr === 'PN') return { vr, Value: values.map((v) => (v ? { Alphabetic: v } : {})) };
  if (NUMBER_VRS.has(vr)) {
    const numbers = values.map((v) => Number(v.trim())).filter((n) => v2ok(n));
    return numbers.length ? { vr, Value: numbers } : { vr };
  }
  return { vr, Value: values };
}
const v2ok = (n: number) => Number.isFinite(n);

/**
 * A parsed header's dataset (dcmjs's denaturalized form, nearly the JSON model already) as DICOM JSON:
 * numbers made numbers, binary values of top-level attributes as `BulkDataURI` (`bulkUri`), binary values
 * inside sequences inline (base64).
 */
export function datasetJson(dataset: DicomDataset, bulkUri?: (tag: string) => string): DicomJson {
  const out: DicomJson = {};
  for (const key of Object.keys(dataset).sort()) {
    if (!/^[0-9A-F]{8}$/i.test(key)) continue;
    const element = dataset[key] as DicomElement;
    const vr = /^[A-Z]{2}$/.test(element.vr) ? element.vr : 'UN';
    const values = (element.Value ?? []).filter((v) => v !== undefined && v !== null);
    const tag = key.toUpperCase();
    if (vr === 'SQ') {
      out[tag] = values.length
        ? { vr, Value: values.map((item) => datasetJson(item as DicomDataset)) }
        : { vr };
    } else if (BINARY_VRS.has(vr)) {
      const bytes = values.length && values[0] instanceof ArrayBuffer ? Buffer.from(values[0]) : undefined;
      if (!bytes?.length) out[tag] = { vr };
      else if (bulkUri) out[tag] = { vr, BulkDataURI: bulkUri(tag) };
      else out[tag] = { vr, InlineBinary: bytes.toString('base64') };
    } else if (NUMBER_VRS.has(vr)) {
      const numbers = values.map((v) => (typeof v === 'number' ? v : Number(String(v).trim()))).filter(v2ok);
      out[tag] = numbers.length ? { vr, Value: numbers } : { vr };
    } else if (values.length && values.some((v) => v !== '')) out[tag] = { vr, Value: values };
    else out[tag] = { vr };
  }
  return out;
}
