/**
 * Fills a metadata index (and optionally a blob store) with synthetic instances quickly, without DICOM
 * round trips: rows go through the index adapter's own upsert (so they are exactly what ingest writes),
 * from headers built directly; files are one small template instance with its UIDs patched in place.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import dcmjs from 'dcmjs';
import type { DicomHeader } from '../../src/dicom/header.js';
import type { MetadataIndex } from '../../src/storage/metadata-index.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { makeInstance } from '../../test/fixtures/dicom-fixtures.js';

const { DicomMetaDictionary } = dcmjs.data;
const tagOf = (keyword: string) =>
  (DicomMetaDictionary.nameMap[keyword].tag as string).replace(/[(),]/g, '').toUpperCase();

/** A UID of exactly `length` characters, unique per (kind, n). */
export function uid(kind: number, n: number, length = 40): string {
  const head = `1.2.826.0.1.3680043.10.1337.${kind}.`;
  return (
    head +
    String(n)
      .padStart(length - head.length, '0')
      .replace(/^0/, '1')
  );
}

export interface Shape {
  instances: number;
  patients: number;
  studies: number;
  series: number;
}

const MODALITIES = ['CT', 'MR', 'US', 'CR', 'DX', 'PT', 'NM', 'XA'];
const NAMES = [
  'SMITH',
  'JONES',
  'TAYLOR',
  'BROWN',
  'WILLIAMS',
  'WILSON',
  'JOHNSON',
  'DAVIES',
  'ROBINSON',
  'WRIGHT',
];

/** The header of synthetic instance `i` of `shape`: what the index reads of it. */
export function syntheticHeader(i: number, shape: Shape): DicomHeader {
  const series = Math.floor((i * shape.series) / shape.instances);
  const study = Math.floor((series * shape.studies) / shape.series);
  const patient = Math.floor((study * shape.patients) / shape.studies);
  const values: Record<string, string> = {
    PatientName: `${NAMES[patient % NAMES.length]}^PATIENT${patient}`,
    PatientID: `PID${String(patient).padStart(7, '0')}`,
    PatientBirthDate: `19${String(40 + (patient % 60)).padStart(2, '0')}0101`,
    PatientSex: patient % 2 ? 'F' : 'M',
    StudyInstanceUID: uid(2, study),
    StudyDescription: `Study ${study % 50}`,
    StudyDate: `20${String(10 + (study % 16)).padStart(2, '0')}${String(1 + (study % 12)).padStart(2, '0')}15`,
    StudyID: String(study),
    AccessionNumber: `ACC${study}`,
    PatientAge: '050Y',
    SeriesInstanceUID: uid(3, series),
    SeriesDescription: `Series ${series % 20}`,
    SeriesDate: '20200101',
    Modality: MODALITIES[series % MODALITIES.length],
    ProtocolName: `Protocol ${series % 30}`,
    BodyPartExamined: 'CHEST',
    Manufacturer: 'ACME',
    StationName: `STATION${series % 10}`,
    FrameOfReferenceUID: uid(4, series),
    SOPInstanceUID: uid(5, i),
    ImageType: 'ORIGINAL\\PRIMARY\\AXIAL',
    InstanceNumber: String(1 + (i % 500)),
  };
  const dataset: DicomHeader['dataset'] = {};
  for (const [keyword, value] of Object.entries(values))
    dataset[tagOf(keyword)] = { vr: 'LO', Value: value.split('\\') };
  return {
    meta: {},
    dataset,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid: values.SOPInstanceUID,
    pixelDataOffset: -1,
  };
}

export interface FillOptions {
  /**
   * Upserts in flight at once (default 1). The ClickHouse index writes the upserts that arrive together in one
   * batch (one INSERT per table), so it fills fast only with many in flight (256).
   */
  inFlight?: number;
  /** Told the number of instances upserted so far, after each one. */
  onProgress?: (done: number) => void;
}

/** Upserts `shape.instances` synthetic instances, `inFlight` at once. */
export async function fillIndex(
  index: MetadataIndex,
  shape: Shape,
  options: FillOptions = {},
): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let i = next++; i < shape.instances; i = next++) {
      await index.upsert({
        header: syntheticHeader(i, shape),
        size: 4096,
        origin: { sourceType: 'scp', sourceId: 1, sourceName: 'bench' },
      });
      options.onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.inFlight ?? 1, shape.instances) }, worker));
}

/**
 * An `onProgress` that prints a line every `everyMs` at most: instances done, the rate over the last interval
 * and since the start, and the time left at the overall rate.
 */
export function progressPrinter(total: number, everyMs = 5000): (done: number) => void {
  const started = performance.now();
  let last = { at: started, done: 0 };
  return (done) => {
    const now = performance.now();
    if (now - last.at < everyMs && done < total) return;
    const recent = ((done - last.done) / (now - last.at)) * 1000;
    const overall = (done / (now - started)) * 1000;
    const left = (total - done) / overall;
    console.log(
      `indexed ${done}/${total} (${((done / total) * 100).toFixed(0)}%): ${recent.toFixed(0)} inst/s now,` +
        ` ${overall.toFixed(0)} inst/s overall${done < total ? `, ~${formatSeconds(left)} left` : ''}`,
    );
    last = { at: now, done };
  };
}

export const formatSeconds = (s: number) =>
  s < 90 ? `${s.toFixed(0)} s` : s < 5400 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`;

/**
 * Writes the stored file of every synthetic instance: a small template (8×8 pixels) with its SOP
 * Instance UID patched, straight into the store's folders (no fsync: this is set-up, not ingest).
 */
export async function fillBlobs(blobs: BlobStore, shape: Shape): Promise<void> {
  const marker = uid(5, 0);
  const template = makeInstance({ sopInstanceUid: marker, rows: 8, columns: 8 });
  const at: number[] = [];
  for (let o = template.indexOf(marker); o >= 0; o = template.indexOf(marker, o + 1)) at.push(o);
  const made = new Set<string>();
  for (let i = 0; i < shape.instances; i++) {
    const key = uid(5, i);
    const bytes = Buffer.from(template);
    for (const o of at) bytes.write(key, o, 'latin1');
    const path = blobs.localPath(key)!;
    const dir = dirname(path);
    if (!made.has(dir)) {
      await mkdir(dir, { recursive: true });
      made.add(dir);
    }
    await writeFile(path, bytes);
  }
}
