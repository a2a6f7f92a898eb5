/** The synthetic corpus the benchmarks send: CT-like instances written with the test fixtures (no patient data). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeInstance, newUid } from '../../test/fixtures/dicom-fixtures.js';
import { syncDisks } from './procs.js';
import { totalBytes } from './util.js';

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

export interface Corpus {
  root: string;
  /** Parent of the part directories: storescu +r +sd on it sends everything. */
  dir: string;
  /** One directory per parallel association. */
  parts: string[];
  count: number;
  bytes: number;
}

export interface CorpusOptions {
  /**
   * Studies to spread the instances over (default: one per 100 instances, 1 to 5). Instances are written in
   * study order, so each part folder holds a run of consecutive studies, as a modality sends them.
   */
  studies?: number;
}

/**
 * Synthetic 512x512 16-bit CT instances in a few studies (`options.studies`) and series, split into
 * `parallel` part folders.
 */
export async function generate(
  root: string,
  count: number,
  parallel: number,
  options: CorpusOptions = {},
): Promise<Corpus> {
  const dir = join(root, 'instances');
  const parts = Array.from({ length: parallel }, (_, k) => join(dir, `part${k + 1}`));
  for (const part of parts) await mkdir(part, { recursive: true });

  const studies = Math.min(count, options.studies ?? Math.max(1, Math.min(5, Math.ceil(count / 100))));
  const seriesPerStudy = Math.min(2, Math.max(1, Math.floor(count / studies)));
  const seriesCount = studies * seriesPerStudy;
  const studyUids = Array.from({ length: studies }, () => newUid());
  const seriesUids = Array.from({ length: seriesCount }, () => newUid());
  const files: string[] = [];
  const perSeries = new Array<number>(seriesCount).fill(0);
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const series = Math.floor((i * seriesCount) / count);
    const study = Math.floor(series / seriesPerStudy);
    const part = parts[Math.floor((i * parallel) / count)];
    const file = join(part, `${String(i + 1).padStart(6, '0')}.dcm`);
    await writeFile(
      file,
      makeInstance({
        rows: 512,
        columns: 512,
        patientId: `BENCH${String(study + 1).padStart(3, '0')}`,
        patientName: `Bench^Patient${study + 1}`,
        studyInstanceUid: studyUids[study],
        studyDescription: `Bench study ${study + 1}`,
        seriesInstanceUid: seriesUids[series],
        seriesDescription: `Bench series ${(series % seriesPerStudy) + 1}`,
        sopInstanceUid: newUid(),
        instanceNumber: ++perSeries[series],
      }),
    );
    files.push(file);
    if (process.stdout.isTTY && ((i + 1) % 50 === 0 || i + 1 === count))
      process.stdout.write(`\rgenerating ${i + 1}/${count}`);
  }
  const bytes = await totalBytes(files);
  syncDisks();
  console.log(
    `${process.stdout.isTTY ? '\r' : ''}generated ${count} instances (512x512, 16-bit; ${studies} studies, ${seriesCount} series) = ${mb(bytes)} MB` +
      ` in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return { root, dir, parts, count, bytes };
}
