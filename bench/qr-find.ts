/**
 * `npm run bench:qr-find`: C-FIND over a large index. Generates an index of 1,000,000 instances (10,000
 * patients × 2 studies × 5 series × 10 instances, written straight into SQLite: ingesting them would take
 * hours), then times a study-level query by PatientID (with ModalitiesInStudy and the study's counts, as
 * viewers ask) three ways: the index alone, a C-FIND over DIMSE on one association against our SCP, and
 * DCMTK `findscu` (a process per query, for reference). Prints medians and 95th percentiles.
 *
 *   npm run bench:qr-find -- [--instances 1000000] [--queries 200] [--keep <dir>]
 */
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFile } from 'node:child_process';
import Database from 'better-sqlite3';
import { openSqliteIndex } from '../src/storage/sqlite-index.js';
import { QueryRetrieveService } from '../src/dimse/qr/service.js';
import { ScpConnection } from '../src/dimse/scp/connection.js';
import { ScpLimits } from '../src/dimse/scp/limits.js';
import { Landing } from '../src/pipeline/landing.js';
import { CommandField } from '../src/dimse/commands.js';
import { QrSopClass } from '../src/dimse/qr/sop-classes.js';
import { TransferSyntax } from '../src/dicom/transfer-syntax.js';
import { QrClient, requestCommand } from '../test/helpers/qr-client.js';
import { findAttributeByTag, type FindQuery } from '../src/storage/find-query.js';
import type { BlobStore } from '../src/storage/blob-store.js';
import { freePort } from './lib/util.js';

const { values: args } = parseArgs({
  options: {
    instances: { type: 'string', default: '1000000' },
    queries: { type: 'string', default: '200' },
    keep: { type: 'string' },
  },
});
const INSTANCES = Number(args.instances);
const QUERIES = Number(args.queries);
const STUDIES_PER_PATIENT = 2;
const SERIES_PER_STUDY = 5;
const INSTANCES_PER_SERIES = 10;
const PATIENTS = Math.ceil(INSTANCES / (STUDIES_PER_PATIENT * SERIES_PER_STUDY * INSTANCES_PER_SERIES));
const MODALITIES = ['CT', 'MR', 'US', 'CR', 'PT'];
const STUDY_RETURNS = [
  'StudyInstanceUID',
  'StudyDate',
  'StudyTime',
  'AccessionNumber',
  'StudyDescription',
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'ModalitiesInStudy',
  'NumberOfStudyRelatedSeries',
  'NumberOfStudyRelatedInstances',
];

const patientId = (p: number) => `PAT${String(p).padStart(7, '0')}`;

async function generate(path: string): Promise<void> {
  await openSqliteIndex(path).close(); // schema and Q/R columns
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const patient = db.prepare(
    'INSERT INTO Patients (patientName, patientID, patientBirthDate, patientSex) VALUES (?, ?, ?, ?)',
  );
  const study = db.prepare(
    'INSERT INTO Studies (patientId, studyInstanceUID, studyDescription, studyDate, studyID, accessionNumber, patientAge, studyTime, referringPhysicianName) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const series = db.prepare(
    'INSERT INTO Series (studyId, seriesInstanceUID, seriesDescription, seriesDate, modality, protocolName, bodyPartExamined, manufacturer, stationName, frameOfReferenceUID, seriesNumber, seriesTime) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const image = db.prepare(
    'INSERT INTO Images (seriesId, sopInstanceUID, imageType, instanceNumber, sopClassUID, transferSyntaxUID, size, createdAt, rows, columns, numberOfFrames, bitsAllocated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const source = db.prepare(
    'INSERT INTO SeriesSources (id, sourceType, sourceName, sourceId) VALUES (?, ?, ?, ?)',
  );
  const now = Date.now();
  let count = 0;
  const batch = db.transaction((from: number, to: number) => {
    for (let p = from; p < to && count < INSTANCES; p++) {
      const pid = Number(
        patient.run(`Patient^${p}`, patientId(p), `19${50 + (p % 50)}0101`, p % 2 ? 'F' : 'M')
          .lastInsertRowid,
      );
      for (let s = 0; s < STUDIES_PER_PATIENT; s++) {
        const uid = `1.2.826.0.1.3680043.10.1337.7.${p}.${s}`;
        const date = `20${String(10 + ((p + s) % 15)).padStart(2, '0')}0${1 + (p % 9)}1${s}`;
        const sid = Number(
          study.run(pid, uid, 'Bench study', date, String(s), `ACC${p}.${s}`, '050Y', '101500', 'Ref^Doc')
            .lastInsertRowid,
        );
        for (let se = 0; se < SERIES_PER_STUDY; se++) {
          const modality = MODALITIES[(p + s + se) % MODALITIES.length];
          const seid = Number(
            series.run(
              sid,
              `${uid}.${se}`,
              'Bench series',
              date,
              modality,
              '',
              '',
              'Bench',
              '',
              '',
              String(se + 1),
              '101500',
            ).lastInsertRowid,
          );
          source.run(seid, 'scp', 'bench', 1);
          for (let i = 0; i < INSTANCES_PER_SERIES && count < INSTANCES; i++, count++)
            image.run(
              seid,
              `${uid}.${se}.${i}`,
              'ORIGINAL\\PRIMARY',
              String(i + 1),
              '1.2.840.10008.5.1.4.1.1.2',
              TransferSyntax.ExplicitVRLittleEndian,
              524_288,
              now,
              '512',
              '512',
              '',
              '16',
            );
        }
      }
    }
  });
  for (let p = 0; p < PATIENTS; p += 500) batch(p, p + 500);
  db.close();
}

const percentile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const report = (what: string, ms: number[]) =>
  console.log(
    `${what.padEnd(44)} median ${percentile(ms, 0.5).toFixed(2).padStart(7)} ms   p95 ${percentile(ms, 0.95).toFixed(2).padStart(7)} ms   (${ms.length} queries)`,
  );

function findscu(port: number, pid: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(
      'findscu',
      [
        '-S',
        '-aec',
        'SLUICE',
        '-k',
        'QueryRetrieveLevel=STUDY',
        '-k',
        `PatientID=${pid}`,
        '-k',
        'StudyInstanceUID',
        '-k',
        'ModalitiesInStudy',
        '-k',
        'NumberOfStudyRelatedInstances',
        '127.0.0.1',
        String(port),
      ],
      { env: { ...process.env, TCP_NODELAY: '1' } },
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}

async function main(): Promise<void> {
  const dir = args.keep ?? (await mkdtemp(join(tmpdir(), 'sluice-bench-qr-')));
  const path = join(dir, 'index.sqlite');
  const started = Date.now();
  const existing = await import('node:fs').then((fs) => fs.existsSync(path));
  if (!existing) {
    console.log(
      `generating ${INSTANCES.toLocaleString('en')} instances (${PATIENTS.toLocaleString('en')} patients) in ${path} …`,
    );
    await generate(path);
    console.log(`generated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } else console.log(`using the index in ${path}`);
  const index = openSqliteIndex(path);
  const pick = () => patientId(Math.floor(Math.random() * PATIENTS));
  const query = (pid: string): FindQuery => ({
    level: 'STUDY',
    keys: [{ keyword: 'PatientID', matcher: { kind: 'single', value: pid } }],
    returns: STUDY_RETURNS,
    caseInsensitiveNames: true,
    limit: 200,
  });
  await index.find(query(pick())); // warm the statement cache

  const inIndex: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const t0 = performance.now();
    const matches = await index.find(query(pick()));
    inIndex.push(performance.now() - t0);
    if (matches.length !== STUDIES_PER_PATIENT)
      throw new Error(`expected ${STUDIES_PER_PATIENT} studies, got ${matches.length}`);
  }

  // Our SCP with Q/R over this index (no pipeline: nothing is stored here).
  const qr = new QueryRetrieveService({
    index,
    blobs: { localPath: () => undefined } as unknown as BlobStore,
    destination: () => Promise.resolve(undefined),
    decompress: () => Promise.reject(new Error('not in this benchmark')),
    caseInsensitiveNames: true,
  });
  const port = await freePort();
  const limits = new ScpLimits(8, 64, 64 * 1024 * 1024);
  const server = createServer(
    (socket) =>
      new ScpConnection(socket, {
        limits,
        ourAe: 'SLUICE',
        requireCalledAe: false,
        maxPduLength: 256 * 1024,
        timeoutMs: 60_000,
        requestTimeoutMs: 10_000,
        landing: new Landing(join(dir, 'landing')),
        ref: { sourceType: 'scp', sourceId: 1 },
        acceptsAbstractSyntax: () => false,
        transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
        store: async () => ({ status: 0xa700 }),
        queryRetrieve: qr.forScp({ ourAe: 'SLUICE', host: '127.0.0.1' }),
      }),
  );
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const client = await QrClient.open(port, [
    {
      id: 1,
      abstractSyntax: QrSopClass.StudyRootFind,
      transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
    },
  ]);
  const overDimse: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const t0 = performance.now();
    client.send(
      ...QrClient.requestPdus(
        1,
        requestCommand(CommandField.CFindRq, { sopClassUid: QrSopClass.StudyRootFind, messageId: i + 1 }),
        [
          { tag: 0x00080052, vr: 'CS', text: 'STUDY' },
          { tag: 0x00100020, vr: 'LO', text: pick() },
          ...[0x0020000d, 0x00080020, 0x00080050, 0x00100010, 0x00080061, 0x00201206, 0x00201208].map(
            (tag) => ({
              tag,
              vr: findAttributeByTag(tag)!.vr,
            }),
          ),
        ],
      ),
    );
    let matches = 0;
    for (;;) {
      const m = await client.next();
      if (m.command.status === 0xff00) matches++;
      else break;
    }
    overDimse.push(performance.now() - t0);
    if (matches !== STUDIES_PER_PATIENT) throw new Error(`C-FIND answered ${matches} matches`);
  }
  client.close();

  const withFindscu: number[] = [];
  for (let i = 0; i < Math.min(QUERIES, 50); i++) {
    const t0 = performance.now();
    await findscu(port, pick());
    withFindscu.push(performance.now() - t0);
  }
  server.close();
  await index.close();

  console.log(
    `\nC-FIND, study level by PatientID, over ${INSTANCES.toLocaleString('en')} indexed instances:`,
  );
  report('index.find (in process)', inIndex);
  report('C-FIND over DIMSE, one association', overDimse);
  report('DCMTK findscu (a process and association each)', withFindscu);
  if (!args.keep) await rm(dir, { recursive: true, force: true });
}

await main();
