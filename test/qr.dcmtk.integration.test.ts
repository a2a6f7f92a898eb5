/**
 * Query/Retrieve against the running engine with DCMTK's tools: findscu (Patient and Study Root, every
 * level, wildcards, ranges, lists, failures), movescu to a DCMTK storescp and getscu, with retrieved files
 * byte-identical to the stored ones; and C-CANCEL and access control with a requestor of our own.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { startStorescp, type RunningStorescp } from './helpers/peers.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { QrClient, requestCommand } from './helpers/qr-client.js';
import { datasetOffset } from '../src/dicom/part10.js';
import { parseHeader } from '../src/dicom/header.js';
import { TransferSyntax } from '../src/dicom/transfer-syntax.js';
import { CommandField, parseStatus } from '../src/dimse/commands.js';
import { Encoder } from '../src/dicom/encode.js';
import { QrSopClass } from '../src/dimse/qr/sop-classes.js';

let engine: TestEngine;
let dir: string;
let storescp: RunningStorescp;
const PRIVATE_SOP_CLASS = '1.2.826.0.1.3680043.10.1337.99.7';

interface Study {
  uid: string;
  series: string[];
  sops: string[];
}
const A1: Study = { uid: newUid(), series: [newUid(), newUid()], sops: [] };
const A2: Study = { uid: newUid(), series: [newUid()], sops: [] };
const B1: Study = { uid: newUid(), series: [newUid()], sops: [] };
let jlsSop: string;
let privateSop: string;

async function instance(
  name: string,
  study: Study,
  seriesIndex: number,
  number: number,
  patient: { name: string; id: string },
  extra: Record<string, unknown>,
  spec: { modality?: string; studyDate?: string; sopClassUid?: string } = {},
): Promise<string> {
  const sop = newUid();
  study.sops.push(sop);
  const path = join(dir, `${name}.dcm`);
  await writeFile(
    path,
    makeInstance({
      patientName: patient.name,
      patientId: patient.id,
      studyInstanceUid: study.uid,
      seriesInstanceUid: study.series[seriesIndex],
      sopInstanceUid: sop,
      instanceNumber: number,
      rows: 16,
      columns: 16,
      ...spec,
      extra: { SeriesNumber: String(seriesIndex + 1), ...extra },
    }),
  );
  return path;
}

const port = () => String(engine.dicomPort);

/** findscu's responses as tag → value maps (`(gggg,eeee) VR [value]` lines of each response). */
function responses(output: string): Array<Map<string, string>> {
  return output
    .split(/Find Response: \d+ \(Pending\)/)
    .slice(1)
    .map((block) => {
      const values = new Map<string, string>();
      for (const m of block.matchAll(
        /\(([0-9a-f]{4},[0-9a-f]{4})\) \w\w (?:\[(.*?)\]|\(no value available\)|(\S+))/g,
      ))
        // Values as DCMTK prints them: text in brackets (UIDs keep a NUL pad), numbers and UID names bare.
        values.set(m[1], (m[2] ?? m[3] ?? '').replace(/[\0\s]+$/, ''));
      return values;
    });
}

async function findscu(
  model: '-P' | '-S',
  keys: string[],
): Promise<{ matches: Array<Map<string, string>>; final: string }> {
  const r = await dcmtk('findscu', [
    '-v',
    model,
    '-aec',
    'SLUICE',
    ...keys.flatMap((k) => ['-k', k]),
    '127.0.0.1',
    port(),
  ]);
  const output = r.stdout + r.stderr;
  return {
    matches: responses(output),
    final: /Received Final Find Response \((.*?)\)/.exec(output)?.[1] ?? output,
  };
}

/** The stored file of an instance, as the API serves it. */
async function storedFile(sop: string): Promise<Buffer> {
  const [image] = await engine.imagesBySop(sop);
  return Buffer.from(await (await engine.api(`/api/images/${image.id}`)).arrayBuffer());
}
const datasetOf = (b: Buffer) => b.subarray(datasetOffset(b));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-qr-'));
  engine = await startTestEngine();
  const anna = { name: 'Alpha^Anna', id: 'QR-A' };
  const bob = { name: 'Beta^Bob', id: 'QR-B' };
  const a1 = { StudyTime: '101500', AccessionNumber: 'ACC-A1', ReferringPhysicianName: 'House^Greg' };
  const a2 = { StudyTime: '143000', AccessionNumber: 'ACC-A2' };
  const files = [
    await instance('a1-1', A1, 0, 1, anna, a1, { studyDate: '20240110' }),
    await instance('a1-2', A1, 0, 2, anna, a1, { studyDate: '20240110' }),
    await instance('a1-3', A1, 1, 1, anna, a1, { studyDate: '20240110' }),
    await instance('a1-4', A1, 1, 2, anna, a1, { studyDate: '20240110' }),
    ...(await Promise.all(
      [1, 2, 3].map((n) =>
        instance(`a2-${n}`, A2, 0, n, anna, a2, { studyDate: '20230505', modality: 'MR' }),
      ),
    )),
    await instance('b1-1', B1, 0, 1, bob, {}, { studyDate: '20220101' }),
  ];
  const plain = await instance('b1-2', B1, 0, 2, bob, {}, { studyDate: '20220101' });
  jlsSop = B1.sops[B1.sops.length - 1];
  const jls = join(dir, 'b1-2-jls.dcm');
  expect((await dcmtk('dcmcjpls', [plain, jls])).code).toBe(0);
  const r = await dcmtk('storescu', ['-aec', 'SLUICE', '127.0.0.1', port(), ...files]);
  expect(r.code, r.stderr).toBe(0);
  expect((await engine.api('/api/images', { method: 'POST', body: await readFile(jls) })).status).toBe(201);
  // A private SOP class that DCMTK's storescp and getscu do not propose or accept.
  const privateFile = await readFile(
    await instance('b1-3', B1, 0, 3, bob, {}, { studyDate: '20220101', sopClassUid: PRIVATE_SOP_CLASS }),
  );
  privateSop = B1.sops[B1.sops.length - 1];
  expect((await engine.api('/api/images', { method: 'POST', body: privateFile })).status).toBe(201);
  storescp = await startStorescp(dir, { args: ['+B'] });
  const scu = await engine.api('/api/scus', {
    method: 'POST',
    body: JSON.stringify({
      name: 'viewer',
      aeTitle: storescp.aeTitle,
      host: '127.0.0.1',
      port: storescp.port,
    }),
  });
  expect(scu.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await storescp?.stop();
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('C-FIND with findscu', () => {
  it('answers the Patient Root model at every level', async () => {
    const patients = await findscu('-P', [
      'QueryRetrieveLevel=PATIENT',
      'PatientName=alpha*',
      'PatientID',
      'PatientBirthDate',
      'NumberOfPatientRelatedStudies',
      'NumberOfPatientRelatedInstances',
    ]);
    expect(patients.final).toBe('Success');
    expect(patients.matches).toHaveLength(1);
    expect(Object.fromEntries(patients.matches[0])).toMatchObject({
      '0010,0010': 'Alpha^Anna',
      '0010,0020': 'QR-A',
      '0010,0030': '19700101',
      '0020,1200': '2',
      '0020,1204': '7',
    });

    const studies = await findscu('-P', [
      'QueryRetrieveLevel=STUDY',
      'PatientID=QR-A',
      'StudyInstanceUID',
      'StudyDate',
      'AccessionNumber',
      'ModalitiesInStudy',
      'NumberOfStudyRelatedSeries',
      'NumberOfStudyRelatedInstances',
      'RetrieveAETitle',
    ]);
    expect(
      studies.matches.map((m) => [
        m.get('0020,000d'),
        m.get('0008,0061'),
        m.get('0020,1206'),
        m.get('0020,1208'),
      ]),
    ).toEqual([
      [A1.uid, 'CT', '2', '4'],
      [A2.uid, 'MR', '1', '3'],
    ]);
    expect(studies.matches[0].get('0008,0054')).toBe('SLUICE');

    const series = await findscu('-P', [
      'QueryRetrieveLevel=SERIES',
      'PatientID=QR-A',
      `StudyInstanceUID=${A1.uid}`,
      'SeriesInstanceUID',
      'Modality',
      'SeriesNumber',
      'NumberOfSeriesRelatedInstances',
    ]);
    expect(
      series.matches.map((m) => [
        m.get('0020,000e'),
        m.get('0008,0060'),
        m.get('0020,0011'),
        m.get('0020,1209'),
      ]),
    ).toEqual([
      [A1.series[0], 'CT', '1', '2'],
      [A1.series[1], 'CT', '2', '2'],
    ]);

    const images = await findscu('-P', [
      'QueryRetrieveLevel=IMAGE',
      'PatientID=QR-A',
      `StudyInstanceUID=${A1.uid}`,
      `SeriesInstanceUID=${A1.series[1]}`,
      'SOPInstanceUID',
      'SOPClassUID',
      'InstanceNumber',
      'Rows',
    ]);
    expect(images.matches.map((m) => [m.get('0008,0018'), m.get('0020,0013'), m.get('0028,0010')])).toEqual([
      [A1.sops[2], '1', '16'],
      [A1.sops[3], '2', '16'],
    ]);
  });

  it('answers the Study Root model: wildcards, date and time ranges, UID lists, modalities in study', async () => {
    const studyUids = async (...keys: string[]) => {
      const r = await findscu('-S', ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID', ...keys]);
      expect(r.final).toBe('Success');
      return r.matches.map((m) => m.get('0020,000d'));
    };
    expect(await studyUids('StudyDate=20230101-20241231', 'PatientID=QR-*')).toEqual([A1.uid, A2.uid]);
    expect(await studyUids('StudyDate=-20221231', 'PatientID=QR-?')).toEqual([B1.uid]);
    expect(await studyUids('StudyDate=20240110-', 'PatientID=QR*')).toEqual([A1.uid]);
    expect(await studyUids('StudyTime=1000-1100', 'PatientID=QR*')).toEqual([A1.uid]);
    expect(await studyUids('PatientName=*BOB')).toEqual([B1.uid]);
    expect(await studyUids('ModalitiesInStudy=MR', 'PatientID=QR-A')).toEqual([A2.uid]);
    expect(await studyUids(`StudyInstanceUID=${B1.uid}\\${A1.uid}`)).toEqual([A1.uid, B1.uid]);
    expect(await studyUids('AccessionNumber=ACC-A?')).toEqual([A1.uid, A2.uid]);
    expect(await studyUids('ReferringPhysicianName=house*')).toEqual([A1.uid]);

    const series = await findscu('-S', [
      'QueryRetrieveLevel=SERIES',
      `StudyInstanceUID=${B1.uid}`,
      'Modality=CT',
      'SeriesInstanceUID',
    ]);
    expect(series.matches.map((m) => m.get('0020,000e'))).toEqual(B1.series);
    const images = await findscu('-S', [
      'QueryRetrieveLevel=IMAGE',
      `StudyInstanceUID=${B1.uid}`,
      `SOPInstanceUID=${jlsSop}\\${privateSop}`,
      'SOPClassUID',
    ]);
    expect(images.matches.map((m) => m.get('0008,0016'))).toEqual(['=CTImageStorage', PRIVATE_SOP_CLASS]);
  });

  it('matches sequence keys universally and answers them empty, and unknown keys zero-length', async () => {
    const find = async (keys: string[]) => {
      const r = await dcmtk('findscu', [
        '-v',
        '-S',
        '-aec',
        'SLUICE',
        ...['QueryRetrieveLevel=STUDY', 'PatientID=QR-B', 'StudyInstanceUID', ...keys].flatMap((k) => [
          '-k',
          k,
        ]),
        '127.0.0.1',
        port(),
      ]);
      const output = r.stdout + r.stderr;
      const [, ...answers] = output.split(/Find Response: \d+ /);
      return {
        statuses: answers.map((a) => /^\((.*?)\)/.exec(a)?.[1]),
        answer: answers[0] ?? output,
        final: /Received Final Find Response \((.*?)\)/.exec(output)?.[1] ?? output,
      };
    };
    const emptySequence = (tag: string) =>
      new RegExp(`\\(${tag}\\) SQ \\(Sequence with explicit length #=0\\)`);

    // Zero items, and one item of return keys: universal matching, each answered as a sequence of no items.
    const universal = await find(['(0008,1110)', '(0008,1032)[0].(0008,0100)', '(0008,1032)[0].(0008,0104)']);
    expect(universal.final).toBe('Success');
    expect(universal.statuses).toEqual(['Pending']);
    expect(universal.answer).toContain(B1.uid);
    expect(universal.answer).toMatch(emptySequence('0008,1110'));
    expect(universal.answer).toMatch(emptySequence('0008,1032'));

    // A value in the item asks for sequence matching, which the index cannot do: matched universally,
    // with 0xFF01 (optional keys not supported); an unknown key and a private one come back zero-length.
    const unsupported = await find(['(0008,1032)[0].(0008,0100)=XYZ', '(0040,0275)', '(0011,1010)=ABC']);
    expect(unsupported.final).toBe('Success');
    expect(unsupported.statuses).toEqual(['Pending: WarningUnsupportedOptionalKeys']);
    expect(unsupported.answer).toContain(B1.uid);
    expect(unsupported.answer).toMatch(emptySequence('0008,1032'));
    expect(unsupported.answer).toMatch(emptySequence('0040,0275'));
    expect(unsupported.answer).toMatch(/\(0011,1010\) \w\w \(no value available\)/);

    const images = await dcmtk('findscu', [
      '-v',
      '-S',
      '-aec',
      'SLUICE',
      ...[
        'QueryRetrieveLevel=IMAGE',
        `StudyInstanceUID=${A2.uid}`,
        'SOPInstanceUID',
        '(0040,a730)[0].(0040,a040)',
      ].flatMap((k) => ['-k', k]),
      '127.0.0.1',
      port(),
    ]);
    const output = images.stdout + images.stderr;
    expect(output).toMatch(/Received Final Find Response \(Success\)/);
    expect(output.match(new RegExp(emptySequence('0040,a730'), 'g'))).toHaveLength(A2.sops.length);
    expect(output.match(/Find Response: \d+ \(Pending\)/g)).toHaveLength(A2.sops.length);
  });

  it('refuses identifiers that do not fit the model (0xA900) and values it cannot match (0xC000)', async () => {
    expect((await findscu('-S', ['QueryRetrieveLevel=PATIENT', 'PatientID'])).final).toMatch(
      /DataSetDoesNotMatchSOPClass/,
    );
    expect((await findscu('-S', ['PatientID=QR-A'])).final).toMatch(/DataSetDoesNotMatchSOPClass/);
    expect((await findscu('-S', ['QueryRetrieveLevel=STUDY', 'Modality=CT'])).final).toMatch(
      /DataSetDoesNotMatchSOPClass/,
    );
    expect((await findscu('-S', ['QueryRetrieveLevel=STUDY', 'StudyDate=2024'])).final).toMatch(
      /UnableToProcess/,
    );
    expect((await findscu('-S', ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID=1.2.*'])).final).toMatch(
      /UnableToProcess/,
    );
  });
});

describe('Q/R on managed SCPs', () => {
  it('answers C-FIND on an SCP created through /api/scps', async () => {
    const managedPort = await freePort();
    const created = await engine.api('/api/scps', {
      method: 'POST',
      body: JSON.stringify({ name: 'managed', aeTitle: 'MANAGED', port: managedPort }),
    });
    expect(created.status).toBe(201);
    // Created without the field: Q/R offered, as before the switch.
    expect(await created.json()).toMatchObject({ aeTitle: 'MANAGED', queryRetrieve: true });
    const r = await dcmtk('findscu', [
      '-v',
      '-S',
      '-aec',
      'MANAGED',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      'PatientID=QR-B',
      '-k',
      'StudyInstanceUID',
      '-k',
      'RetrieveAETitle',
      '127.0.0.1',
      String(managedPort),
    ]);
    const matches = responses(r.stdout + r.stderr);
    expect(matches.map((m) => [m.get('0020,000d'), m.get('0008,0054')])).toEqual([[B1.uid, 'MANAGED']]);
  });
});

describe('C-MOVE with movescu', () => {
  const movescu = async (destination: string, study: string) => {
    const r = await dcmtk('movescu', [
      '-v',
      '-S',
      '-aec',
      'SLUICE',
      '-aem',
      destination,
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${study}`,
      '127.0.0.1',
      port(),
    ]);
    const output = r.stdout + r.stderr;
    return {
      pending: (output.match(/Received Move Response \d+ \(Pending\)/g) ?? []).length,
      final: /Received Final Move Response \((.*?)\)/.exec(output)?.[1] ?? output,
    };
  };

  it('sends a study to a known SCU, byte for byte, with pending counts', async () => {
    const before = new Set(await readdir(storescp.out));
    const r = await movescu(storescp.aeTitle, A1.uid);
    expect(r.final).toBe('Success');
    expect(r.pending).toBe(3);
    const received = (await readdir(storescp.out)).filter((n) => !before.has(n));
    expect(received).toHaveLength(4);
    for (const name of received) {
      const got = await readFile(join(storescp.out, name));
      const sop = parseHeader(got).sopInstanceUid;
      expect(A1.sops).toContain(sop);
      expect(datasetOf(got).equals(datasetOf(await storedFile(sop)))).toBe(true);
    }
  });

  it('names the C-MOVE in each C-STORE sub-operation: Move Originator AE title and message ID', async () => {
    // storescp at debug level prints each C-STORE-RQ's command set as it arrives.
    const watcher = await startStorescp(dir, { aeTitle: 'ORIGINSCP', args: ['-d'] });
    try {
      const scu = await engine.api('/api/scus', {
        method: 'POST',
        body: JSON.stringify({ name: 'origin', aeTitle: 'ORIGINSCP', host: '127.0.0.1', port: watcher.port }),
      });
      expect(scu.status).toBe(201);
      const r = await dcmtk('movescu', [
        '-v',
        '-S',
        '-aet',
        'MOVER',
        '-aec',
        'SLUICE',
        '-aem',
        'ORIGINSCP',
        '-k',
        'QueryRetrieveLevel=STUDY',
        '-k',
        `StudyInstanceUID=${A2.uid}`,
        '127.0.0.1',
        port(),
      ]);
      const output = r.stdout + r.stderr;
      expect(output).toMatch(/Received Final Move Response \(Success\)/);
      const moveMessageId = /Sending Move Request \(MsgID (\d+)\)/.exec(output)?.[1];
      expect(moveMessageId).toBeDefined();
      const log = watcher.proc.output(64 * 1024);
      const requests = log.split(/Message Type\s*: C-STORE RQ/).slice(1);
      expect(requests, log).toHaveLength(A2.sops.length);
      for (const request of requests) {
        expect(request).toMatch(/Move Originator AE Title\s*: MOVER\s*\n/);
        expect(request).toMatch(new RegExp(`Move Originator ID\\s*: ${moveMessageId}\\s*\\n`));
      }
    } finally {
      await watcher.stop();
    }
  });

  it('answers 0xA801 for a destination that is not an SCU', async () => {
    expect((await movescu('NOBODY', A1.uid)).final).toMatch(/MoveDestinationUnknown/);
  });

  it('decompresses for a destination that takes only uncompressed syntaxes, and reports what failed', async () => {
    const before = new Set(await readdir(storescp.out));
    const r = await movescu(storescp.aeTitle, B1.uid);
    // The private SOP class is refused by storescp: one failure of three.
    expect(r.final).toMatch(/Warning/);
    const received = (await readdir(storescp.out)).filter((n) => !before.has(n));
    const headers = await Promise.all(
      received.map(async (n) => parseHeader(await readFile(join(storescp.out, n)))),
    );
    expect(headers.map((h) => h.sopInstanceUid).sort()).toEqual(
      B1.sops.filter((s) => s !== privateSop).sort(),
    );
    const jls = headers.find((h) => h.sopInstanceUid === jlsSop)!;
    expect(jls.transferSyntaxUid).toBe(TransferSyntax.ExplicitVRLittleEndian);
  });
});

describe('C-GET with getscu', () => {
  const getscu = async (study: string, extra: string[] = []) => {
    const out = await mkdtemp(join(dir, 'get-'));
    const r = await dcmtk('getscu', [
      '-v',
      '-S',
      '-aec',
      'SLUICE',
      ...extra,
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${study}`,
      '-od',
      out,
      '127.0.0.1',
      port(),
    ]);
    const output = r.stdout + r.stderr;
    return {
      out,
      final:
        /Received Final C-GET Response \((.*?)\)|Final C-GET.*?\((.*?)\)/
          .exec(output)
          ?.slice(1)
          .find(Boolean) ?? output,
      output,
    };
  };

  it('sends a study back on the same association, byte for byte', async () => {
    const { out, output } = await getscu(A1.uid);
    expect(output).toMatch(/Received C-GET Response \(Success\)/);
    expect(output).toMatch(/Number of Completed Suboperations : 4/);
    expect(output).toMatch(/Number of Failed Suboperations {4}: 0/);
    const names = await readdir(out);
    expect(names).toHaveLength(4);
    for (const name of names) {
      const got = await readFile(join(out, name));
      const sop = parseHeader(got).sopInstanceUid;
      expect(datasetOf(got).equals(datasetOf(await storedFile(sop)))).toBe(true);
    }
  });

  it('decompresses for a requester that proposed only uncompressed syntaxes, and reports what failed', async () => {
    const { out, output } = await getscu(B1.uid);
    // getscu proposes no context for the private SOP class: one sub-operation fails.
    expect(output).toMatch(/Number of Completed Suboperations : 2/);
    expect(output).toMatch(/Number of Failed Suboperations {4}: 1/);
    const headers = await Promise.all(
      (await readdir(out)).map(async (n) => parseHeader(await readFile(join(out, n)))),
    );
    expect(headers.map((h) => h.sopInstanceUid).sort()).toEqual(
      B1.sops.filter((s) => s !== privateSop).sort(),
    );
    expect(headers.find((h) => h.sopInstanceUid === jlsSop)!.transferSyntaxUid).not.toBe(
      TransferSyntax.JpegLsLossless,
    );
  });
});

describe('C-CANCEL', () => {
  const IDENTIFIER = (level: string, study?: string) => [
    { tag: 0x00080052, vr: 'CS', text: level },
    { tag: 0x0020000d, vr: 'UI', text: study ?? '' },
  ];

  it('ends a C-FIND and a C-MOVE cancelled before their first match with 0xFE00', async () => {
    const client = await QrClient.open(engine.dicomPort, [
      {
        id: 1,
        abstractSyntax: QrSopClass.StudyRootFind,
        transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
      },
      {
        id: 3,
        abstractSyntax: QrSopClass.StudyRootMove,
        transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
      },
    ]);
    try {
      client.send(
        ...QrClient.requestPdus(
          1,
          requestCommand(CommandField.CFindRq, { sopClassUid: QrSopClass.StudyRootFind, messageId: 7 }),
          IDENTIFIER('STUDY'),
        ),
        ...QrClient.requestPdus(1, requestCommand(CommandField.CCancelRq, { respondedTo: 7 })),
      );
      const find = await client.next();
      expect(find.command).toMatchObject({
        commandField: CommandField.CFindRsp,
        status: 0xfe00,
        messageIdBeingRespondedTo: 7,
      });

      client.send(
        ...QrClient.requestPdus(
          3,
          requestCommand(CommandField.CMoveRq, {
            sopClassUid: QrSopClass.StudyRootMove,
            messageId: 8,
            moveDestination: storescp.aeTitle,
          }),
          IDENTIFIER('STUDY', A2.uid),
        ),
        ...QrClient.requestPdus(3, requestCommand(CommandField.CCancelRq, { respondedTo: 8 })),
      );
      const move = await client.next();
      expect(move.command).toMatchObject({ commandField: CommandField.CMoveRsp, status: 0xfe00 });
      expect(QrClient.commandValue(move, 0x1020)).toBe(3); // remaining
      expect(QrClient.commandValue(move, 0x1021)).toBe(0); // completed
    } finally {
      client.close();
    }
  });

  it('stops a C-GET between sub-operations', async () => {
    const client = await QrClient.open(
      engine.dicomPort,
      [
        {
          id: 1,
          abstractSyntax: QrSopClass.StudyRootGet,
          transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
        },
        {
          id: 3,
          abstractSyntax: '1.2.840.10008.5.1.4.1.1.2',
          transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
        },
      ],
      { roles: [{ abstractSyntax: '1.2.840.10008.5.1.4.1.1.2', scu: false, scp: true }] },
    );
    try {
      client.send(
        ...QrClient.requestPdus(
          1,
          requestCommand(CommandField.CGetRq, { sopClassUid: QrSopClass.StudyRootGet, messageId: 9 }),
          IDENTIFIER('STUDY', A1.uid),
        ),
      );
      const store = await client.next();
      expect(store.command.commandField).toBe(CommandField.CStoreRq);
      expect(store.contextId).toBe(3);
      expect(datasetOf(await storedFile(store.command.affectedSopInstanceUid)).equals(store.dataset!)).toBe(
        true,
      );
      // The first sub-operation's response and the cancel arrive together.
      client.send(
        QrClient.storeResponse(store),
        ...QrClient.requestPdus(1, requestCommand(CommandField.CCancelRq, { respondedTo: 9 })),
      );
      const pending = await client.next();
      expect(pending.command).toMatchObject({ commandField: CommandField.CGetRsp, status: 0xff00 });
      const final = await client.next();
      expect(final.command).toMatchObject({ commandField: CommandField.CGetRsp, status: 0xfe00 });
      expect([QrClient.commandValue(final, 0x1020), QrClient.commandValue(final, 0x1021)]).toEqual([3, 1]);
    } finally {
      client.close();
    }
  });
});

describe('broken commands', () => {
  const STUDY = [{ tag: 0x00080052, vr: 'CS', text: 'STUDY' }];
  const FIND = {
    id: 1,
    abstractSyntax: QrSopClass.StudyRootFind,
    transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
  };
  /** Bytes after a well-formed command set: an element of the identifier, and one longer than what is left. */
  const outsideGroup = new Encoder(false, true).encodeText(0x00080052, 'CS', 'STUDY');
  const overrun = Buffer.from([0x00, 0x00, 0x00, 0x10, 0xe8, 0x03, 0x00, 0x00]);
  const find = (messageId?: number, sopClassUid: string = QrSopClass.StudyRootFind) =>
    requestCommand(CommandField.CFindRq, { sopClassUid, messageId });

  it('answers a C-FIND whose command set is broken with a failure status, and the association goes on', async () => {
    const client = await QrClient.open(engine.dicomPort, [FIND]);
    try {
      const answer = async (command: Buffer) => {
        client.send(...QrClient.requestPdus(1, command, STUDY));
        const response = await client.next();
        expect(response.command.commandField).toBe(CommandField.CFindRsp);
        return {
          messageId: response.command.messageIdBeingRespondedTo,
          ...parseStatus(response.commandBytes),
        };
      };
      expect(await answer(find(11, ''))).toEqual({
        messageId: 11,
        status: 0xc000,
        comment: 'AffectedSOPClassUID (0000,0002) missing',
      });
      expect(await answer(find(12, '1.2.840.10008.5.1.4.1.1.2'))).toMatchObject({
        messageId: 12,
        status: 0xa900,
        comment: expect.stringMatching(/not negotiated on context 1/),
      });
      expect(await answer(Buffer.concat([find(13), outsideGroup]))).toEqual({
        messageId: 13,
        status: 0xc000,
        comment: 'command set holds (0008,0052), outside group 0000',
      });
      expect(await answer(Buffer.concat([find(14), overrun]))).toEqual({
        messageId: 14,
        status: 0xc000,
        comment: 'command element (0000,1000) overruns the command set',
      });
      // The same association still queries.
      client.send(
        ...QrClient.requestPdus(1, find(15), [...STUDY, { tag: 0x00100020, vr: 'LO', text: 'QR-B' }]),
      );
      const match = await client.next();
      expect(match.command).toMatchObject({ status: 0xff00, messageIdBeingRespondedTo: 15 });
      expect(QrClient.identifier(match).get(0x00100020)).toBe('QR-B');
      expect((await client.next()).command).toMatchObject({ status: 0, messageIdBeingRespondedTo: 15 });
    } finally {
      client.close();
    }
  });

  it('aborts when the broken command set does not even give its Message ID', async () => {
    const client = await QrClient.open(engine.dicomPort, [FIND]);
    try {
      client.send(...QrClient.requestPdus(1, Buffer.concat([find(undefined), outsideGroup]), STUDY));
      await expect(client.next()).rejects.toThrow(/connection closed/);
    } finally {
      client.close();
    }
  });
});

describe('Q/R switched off per SCP', () => {
  const QR_CONTEXTS = [
    QrSopClass.StudyRootFind,
    QrSopClass.StudyRootMove,
    QrSopClass.StudyRootGet,
    QrSopClass.PatientRootFind,
  ].map((abstractSyntax, i) => ({
    id: 2 * i + 1,
    abstractSyntax,
    transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
  }));
  const VERIFICATION_CONTEXT = {
    id: 11,
    abstractSyntax: '1.2.840.10008.1.1',
    transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian],
  };

  /** findscu's and our own requestor's view of an SCP that does not offer Q/R; C-ECHO and C-STORE still work. */
  async function expectNoQueryRetrieve(scpPort: number, calledAe: string): Promise<void> {
    const find = await dcmtk('findscu', [
      '-v',
      '-S',
      '-aec',
      calledAe,
      '-k',
      'QueryRetrieveLevel=STUDY',
      '127.0.0.1',
      String(scpPort),
    ]);
    expect(find.stdout + find.stderr).toMatch(/No Acceptable Presentation Contexts/i);
    const client = await QrClient.open(scpPort, [...QR_CONTEXTS, VERIFICATION_CONTEXT]);
    try {
      // 3: abstract syntax not supported (PS3.8 9.3.3.2), as for any SOP class the SCP does not serve.
      expect(QR_CONTEXTS.map((c) => client.results.get(c.id))).toEqual([3, 3, 3, 3]);
      expect(client.results.get(VERIFICATION_CONTEXT.id)).toBe(0);
    } finally {
      client.close();
    }
    const file = join(dir, `no-qr-${scpPort}.dcm`);
    await writeFile(file, makeInstance({ patientId: 'QR-OFF', rows: 8, columns: 8 }));
    const store = await dcmtk('storescu', ['-aec', calledAe, '127.0.0.1', String(scpPort), file]);
    expect(store.code, store.stderr).toBe(0);
  }

  it('a dicom_scp with query_retrieve: false rejects the Q/R contexts and keeps receiving', async () => {
    const pipeline = join(dir, 'no-qr.yaml');
    await writeFile(
      pipeline,
      [
        'name: no-qr',
        'sources:',
        '  - type: dicom_scp',
        '    query_retrieve: false',
        'sinks:',
        '  - type: storage',
        '  - type: index',
        '',
      ].join('\n'),
    );
    const receiving = await startTestEngine({ pipelines: [pipeline] });
    try {
      await expectNoQueryRetrieve(receiving.dicomPort, 'SLUICE');
    } finally {
      await receiving.cleanup();
    }
  });

  it('an SCP bound beyond loopback offers Q/R to the AE titles of SCUs, looked up as each association is answered', async () => {
    const pipeline = join(dir, 'open-qr.yaml');
    const port = await freePort();
    await writeFile(
      pipeline,
      [
        'name: open-qr',
        'sources:',
        '  - type: dicom_scp',
        "    host: '0.0.0.0'",
        `    port: ${port}`,
        'sinks:',
        '  - type: storage',
        '  - type: index',
        '',
      ].join('\n'),
    );
    const open = await startTestEngine({ pipelines: [pipeline] });
    const find = (callingAe: string) =>
      dcmtk('findscu', [
        '-S',
        '-aet',
        callingAe,
        '-aec',
        'SLUICE',
        '-k',
        'QueryRetrieveLevel=STUDY',
        '127.0.0.1',
        String(port),
      ]);
    try {
      const stranger = await QrClient.open(port, [...QR_CONTEXTS, VERIFICATION_CONTEXT], {
        callingAe: 'STRANGER',
      });
      try {
        // 1: rejected by the user (PS3.8 9.3.3.2): Q/R is there, but not for this caller.
        expect(QR_CONTEXTS.map((c) => stranger.results.get(c.id))).toEqual([1, 1, 1, 1]);
        expect(stranger.results.get(VERIFICATION_CONTEXT.id)).toBe(0);
      } finally {
        stranger.close();
      }
      const created = await open.api('/api/scus', {
        method: 'POST',
        body: JSON.stringify({ name: 'known', aeTitle: 'KNOWN', host: '127.0.0.1', port: 1 }),
      });
      expect(created.status).toBe(201);
      // The association is answered once the SCU is found, and what the caller sends next is read then.
      const known = await find('KNOWN');
      expect(known.code, known.stderr).toBe(0);
      const refused = await find('STRANGER');
      expect(refused.stdout + refused.stderr).toMatch(/No Acceptable Presentation Contexts/i);
    } finally {
      await open.cleanup();
    }
  });

  it('a managed SCP created with queryRetrieve: false does not offer Q/R, and says so', async () => {
    const scpPort = await freePort();
    const create = (body: Record<string, unknown>) =>
      engine.api('/api/scps', { method: 'POST', body: JSON.stringify(body) });
    const refused = await create({ name: 'bad', aeTitle: 'BAD', port: scpPort, queryRetrieve: 'no' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toMatch(/queryRetrieve must be true or false/);
    // Slicebox's whole object, with Sluice's one extra field.
    const created = await create({
      id: -1,
      name: 'store-only',
      aeTitle: 'STOREONLY',
      port: scpPort,
      queryRetrieve: false,
    });
    expect(created.status).toBe(201);
    const scp = (await created.json()) as { id: number };
    expect(scp).toMatchObject({
      name: 'store-only',
      aeTitle: 'STOREONLY',
      port: scpPort,
      queryRetrieve: false,
    });
    const listed = (await (await engine.api('/api/scps')).json()) as Array<Record<string, unknown>>;
    expect(listed.find((s) => s.id === scp.id)).toEqual({
      id: scp.id,
      name: 'store-only',
      aeTitle: 'STOREONLY',
      port: scpPort,
      queryRetrieve: false,
    });
    await expectNoQueryRetrieve(scpPort, 'STOREONLY');
    expect((await engine.api(`/api/scps/${scp.id}`, { method: 'DELETE' })).status).toBe(204);
  });
});

describe('who may query and retrieve', () => {
  let guarded: TestEngine;
  let guardedPort: number;
  beforeAll(async () => {
    const pipeline = join(dir, 'guarded.yaml');
    await writeFile(
      pipeline,
      [
        'name: guarded',
        'sources:',
        '  - type: dicom_scp',
        '    query_retrieve_ae_titles: [VIEWER]',
        'sinks:',
        '  - type: storage',
        '  - type: index',
        '',
      ].join('\n'),
    );
    guarded = await startTestEngine({ pipelines: [pipeline] });
    guardedPort = guarded.dicomPort;
  });
  afterAll(() => guarded?.cleanup());

  it('rejects the Q/R contexts of callers not listed, and serves those listed', async () => {
    const find = (callingAe: string) =>
      dcmtk('findscu', [
        '-v',
        '-S',
        '-aet',
        callingAe,
        '-k',
        'QueryRetrieveLevel=STUDY',
        '127.0.0.1',
        String(guardedPort),
      ]);
    const refused = await find('STRANGER');
    expect(refused.stdout + refused.stderr).toMatch(
      /No Acceptable Presentation Contexts|no presentation context/i,
    );
    const served = await find('VIEWER');
    expect(served.stdout + served.stderr).toMatch(/Received Final Find Response \(Success\)/);
  });
});
