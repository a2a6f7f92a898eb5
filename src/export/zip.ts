/**
 * The zip of an export set, streamed: entries are laid out as Slicebox lays them out
 * (`<patientId>_<PatientName>-<PatientID>/<studyId>_<StudyDate>/<seriesId>_<SeriesDate>_<Modality>/<imageId>.dcm`)
 * and each stored file is opened only when the zip writer reaches it, so neither the zip nor all the files'
 * handles are held at once.
 */
import type { Readable } from 'node:stream';
import yazl from 'yazl';
import type { BlobStore } from '../storage/blob-store.js';
import type { FlatSeries, MetadataIndex } from '../storage/metadata-index.js';

export interface ExportEntry {
  /** Path inside the zip. */
  path: string;
  /** Storage key of the stored file. */
  key: string;
}

/**
 * A folder name from DICOM values: letters, digits, space and `._^-` stay, anything else (path separators,
 * control characters, `:` and the like) becomes `_`; at most 64 characters. Every folder starts with a
 * numeric id, so no name can be empty, `.` or `..`.
 */
export function folderPart(value: string): string {
  return value
    .normalize('NFC')
    .replace(/[^\p{L}\p{N} ._^-]/gu, '_')
    .slice(0, 64)
    .trimEnd();
}

/** The entries for the images that still exist, grouped by patient, study and series. */
export async function exportEntries(
  index: MetadataIndex,
  imageIds: readonly number[],
): Promise<ExportEntry[]> {
  const seriesCache = new Map<number, FlatSeries | undefined>();
  const rows: Array<{ order: number[]; entry: ExportEntry }> = [];
  for (const id of imageIds) {
    const image = await index.image(id);
    if (!image) continue; // deleted since the set was made
    let flat = seriesCache.get(image.seriesId);
    if (!seriesCache.has(image.seriesId))
      seriesCache.set(image.seriesId, (flat = await index.flatSeries(image.seriesId)));
    if (!flat) continue;
    const { patient, study, series } = flat;
    const path = [
      `${patient.id}_${folderPart(patient.patientName.value)}-${folderPart(patient.patientID.value)}`,
      `${study.id}_${folderPart(study.studyDate.value)}`,
      `${series.id}_${folderPart(series.seriesDate.value)}_${folderPart(series.modality.value)}`,
      `${image.id}.dcm`,
    ].join('/');
    rows.push({
      order: [patient.id, study.id, series.id, image.id],
      entry: { path, key: image.sopInstanceUID.value },
    });
  }
  rows.sort((a, b) => compare(a.order, b.order));
  return rows.map((r) => r.entry);
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/**
 * The zip as a byte stream. A file that cannot be read (deleted while the zip is being written) destroys
 * the stream with the error, so the download fails visibly instead of ending as a short, valid-looking zip.
 */
export function zipStream(entries: readonly ExportEntry[], blobs: BlobStore): Readable {
  const zip = new yazl.ZipFile();
  const output = zip.outputStream as Readable;
  zip.on('error', (err: Error) => output.destroy(err));
  // A client that goes away mid-download destroys the output; the file being read then closes too.
  const reading = new Set<Readable>();
  output.once('close', () => reading.forEach((stream) => stream.destroy()));
  for (const entry of entries)
    zip.addReadStreamLazy(entry.path, { compress: true }, (callback) => {
      blobs.open(entry.key).then(
        ({ stream }) => {
          reading.add(stream);
          stream.once('close', () => reading.delete(stream));
          callback(null, stream);
        },
        (err: unknown) => callback(err, undefined as unknown as Readable),
      );
    });
  zip.end();
  return output;
}
