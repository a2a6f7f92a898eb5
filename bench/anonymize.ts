/**
 * De-identification benchmark: the same synthetic CT instances (512×512, 16-bit) anonymized with the Basic
 * Profile by the `anonymize` operator alone (files read, header parsed as ingest does, anonymized, each result
 * written to a new file as the storage sink does, without its fsync), and by GDCM's `gdcmanon` (Debian
 * `libgdcm-tools`) in its basic-profile mode (`-e`, which also encrypts the original attributes into the
 * Encrypted Attributes Sequence with a certificate made here) over the same folder, in the same run; and
 * through the API, as a client anonymizes stored images: `POST /api/images/{id}/anonymized` (the file
 * answered, a key recorded) and `PUT /api/images/{id}/anonymize` (the stored image replaced, durably), eight
 * requests in flight, on the app with its real adapters (SQLite state and index files, file-system blobs).
 *
 *   npm run bench:anonymize -- [--count 500] [--rounds 3] [--keep]
 *
 * Each round runs each way, in alternating order, on a fresh output folder; figures are medians over rounds.
 * The operator runs three ways per round: envelopes ready (the operator alone), files read and parsed inside
 * the timing (what gdcmanon's figure includes), and that plus an anonymization key per instance in a SQLite
 * state store (synchronous=FULL, one transaction per key). The API figures are per instance, with the
 * median and the slowest request's time.
 */
import { mkdir, mkdtemp, open, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { count as counted, from, lastValueFrom, mergeMap } from 'rxjs';
import { makeInstance, newUid } from '../test/fixtures/dicom-fixtures.js';
import { installCleanupHandlers, keepTempDirs, registerTempDir, run } from './lib/procs.js';
import { countFiles, median } from './lib/util.js';
import { ADMIN, basic, createTestApp } from '../test/helpers/app.js';
import { anonymizeOperator } from '../src/operators/anonymize.js';
import { AnonymizationService } from '../src/anonymization/service.js';
import { parseHeader } from '../src/dicom/header.js';
import { openSqliteState } from '../src/storage/sqlite-state.js';
import { Counters } from '../src/pipeline/counters.js';
import type { StageContext } from '../src/pipeline/component.js';
import type { EngineServices } from '../src/pipeline/services.js';
import type { Envelope } from '../src/pipeline/envelope.js';

const TARGET_RATIO = 2;
/** The API path may take at most this many times the operator alone's time per instance. */
const API_RATIO = 2;

async function main() {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '500' },
      rounds: { type: 'string', default: '3' },
      keep: { type: 'boolean', default: false },
    },
  });
  const count = Number(values.count);
  const rounds = Number(values.rounds);
  installCleanupHandlers();
  keepTempDirs(values.keep!);
  const root = registerTempDir(await mkdtemp(join(tmpdir(), 'sluice-bench-anon-')));

  // Input: one study per 50 instances, identifying attributes included, as a modality would send them.
  const input = join(root, 'in');
  await mkdir(input);
  let studyUid = newUid();
  for (let i = 0; i < count; i++) {
    if (i % 50 === 0) studyUid = newUid();
    await writeFile(
      join(input, `${String(i).padStart(5, '0')}.dcm`),
      makeInstance({
        rows: 512,
        columns: 512,
        patientName: `Bench^Patient${Math.floor(i / 50)}`,
        patientId: `BENCH-${Math.floor(i / 50)}`,
        studyInstanceUid: studyUid,
        instanceNumber: i + 1,
        extra: {
          AccessionNumber: `ACC${i}`,
          InstitutionName: 'Bench Hospital',
          ReferringPhysicianName: 'Who^Doctor',
          OperatorsName: 'Op^Erator',
          FrameOfReferenceUID: studyUid + '.1',
          ReferencedImageSequence: [
            { ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: newUid() },
          ],
        },
      }),
    );
  }
  const files = (await import('node:fs/promises')).readdir(input).then((names) => names.sort());

  // gdcmanon's basic profile encrypts the replaced attributes for a certificate holder.
  const key = join(root, 'key.pem');
  const cert = join(root, 'cert.pem');
  const ssl = await run('openssl', [
    'req',
    ...['-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1'],
    ...['-subj', '/CN=sluice-bench', '-keyout', key, '-out', cert],
  ]);
  if (ssl.code !== 0) throw new Error(`openssl failed: ${ssl.output}`);

  const secret = Buffer.alloc(32, 1);
  const results: Record<string, number[]> = {
    sluice: [],
    'sluice+keys': [],
    'operator alone': [],
    gdcmanon: [],
    'POST anonymized': [],
    'PUT anonymize': [],
  };
  /** Request times with eight requests in flight, and with one at a time (the time a lone client waits). */
  const latencies: Record<string, number[]> = {
    'POST anonymized': [],
    'PUT anonymize': [],
    'POST anonymized, one at a time': [],
    'PUT anonymize, one at a time': [],
  };

  const runSluice = async (label: string, withKeys: boolean, r: number, readInside = true) => {
    const out = join(root, `${label}-${r}`);
    await mkdir(out);
    const state = withKeys ? openSqliteState(join(out, 'state.sqlite')) : undefined;
    const service = new AnonymizationService(secret, state);
    const ctx: StageContext = {
      pipeline: 'bench',
      path: 'operators[0]',
      services: { anonymization: service } as unknown as EngineServices,
      counters: new Counters(),
      settler: {
        settle: (_e, outcome) => {
          if (outcome.kind === 'quarantine') throw outcome.error;
        },
      },
      preparing: () => undefined,
    };
    const operator = anonymizeOperator.create(
      { profile: [], force: false, record_keys: withKeys, concurrency: 8 },
      ctx,
    );
    const names = await files;
    // Files are read and their headers parsed as ingest does, eight at a time: inside the timing, or before
    // it for the operator alone (envelopes as ingest hands them over).
    const read = async (name: string, i: number): Promise<Envelope> => {
      const path = join(input, name);
      const content = await readFile(path);
      return {
        id: String(i),
        origin: { sourceType: 'directory', sourceId: 1, sourceName: 'bench' },
        path,
        size: content.length,
        header: parseHeader(content),
        content,
        facts: {},
      };
    };
    const ready = readInside ? [] : await Promise.all(names.map(read));
    const started = performance.now();
    const source = readInside ? from(names).pipe(mergeMap((name, i) => read(name, i), 8)) : from(ready);
    // The operator keeps its result in memory; write each to a new file, as the storage sink would.
    const write = async (e: Envelope) => {
      if (!e.content) throw new Error(`${label}: envelope ${e.id} has no anonymized content`);
      const handle = await open(join(out, `${e.id}.dcm`), 'w');
      try {
        await handle.write(e.content);
      } finally {
        await handle.close();
      }
      return e;
    };
    // Counted, not collected: holding every result would keep 500 anonymized copies in memory.
    const done = await lastValueFrom(source.pipe(operator, mergeMap(write, 8), counted()));
    const seconds = (performance.now() - started) / 1000;
    await state?.close();
    if (done !== names.length) throw new Error(`${label}: ${done} of ${names.length} anonymized`);
    results[label]!.push(names.length / seconds);
  };

  const runGdcm = async (r: number) => {
    const out = join(root, `gdcmanon-${r}`);
    await mkdir(out);
    const started = performance.now();
    const res = await run('gdcmanon', ['-e', '-c', cert, '-r', '-i', input, '-o', out]);
    const seconds = (performance.now() - started) / 1000;
    if (res.code !== 0) throw new Error(`gdcmanon exited ${res.code}: ${res.output.slice(-2000)}`);
    const made = await countFiles(out);
    if (made !== count) throw new Error(`gdcmanon wrote ${made} of ${count} files`);
    results.gdcmanon!.push(count / seconds);
  };

  /**
   * Through the API: the instances stored first (as ingest would have), then anonymized by `route`, eight
   * requests in flight, each answer read whole.
   */
  const runApi = async (label: 'POST anonymized' | 'PUT anonymize', inFlight = 8) => {
    const t = await createTestApp({ indexOnDisk: true });
    try {
      const auth = basic(ADMIN.user, ADMIN.password);
      // One at a time: a tenth of the instances is enough for the times a lone client waits.
      const names = (await files).slice(0, inFlight === 1 ? Math.ceil(count / 10) : undefined);
      const ids: number[] = [];
      for (const name of names) {
        const path = join(input, name);
        const content = await readFile(path);
        const header = parseHeader(content);
        await t.blobs.putBytes(header.sopInstanceUid, content);
        ids.push(
          (
            await t.index.upsert({
              header,
              origin: { sourceType: 'user', sourceId: 1, sourceName: 'bench' },
              size: content.length,
            })
          ).image.id,
        );
      }
      // One request first, so that the user's password check is cached as it is for a client that goes on.
      await t.app.request('/api/metadata/patients?count=1', { headers: auth });
      const started = performance.now();
      await lastValueFrom(
        from(ids).pipe(
          mergeMap(async (id) => {
            const begun = performance.now();
            const response =
              label === 'PUT anonymize'
                ? await t.app.request(`/api/images/${id}/anonymize`, { method: 'PUT', headers: auth })
                : await t.app.request(`/api/images/${id}/anonymized`, { method: 'POST', headers: auth });
            const body = await response.arrayBuffer();
            if (response.status !== 200)
              throw new Error(`${label} ${id}: ${response.status} ${Buffer.from(body).toString()}`);
            latencies[inFlight === 1 ? `${label}, one at a time` : label]!.push(performance.now() - begun);
          }, inFlight),
          counted(),
        ),
      );
      if (inFlight > 1) results[label]!.push(ids.length / ((performance.now() - started) / 1000));
    } finally {
      await t.cleanup();
    }
  };

  for (let r = 0; r < rounds; r++) {
    const order =
      r % 2
        ? ['gdcm', 'put', 'sluice', 'keys', 'post', 'alone']
        : ['alone', 'post', 'sluice', 'keys', 'put', 'gdcm'];
    for (const which of order) {
      if (which === 'gdcm') await runGdcm(r);
      else if (which === 'sluice') await runSluice('sluice', false, r);
      else if (which === 'keys') await runSluice('sluice+keys', true, r);
      else if (which === 'post') {
        await runApi('POST anonymized');
        await runApi('POST anonymized', 1);
      } else if (which === 'put') {
        await runApi('PUT anonymize');
        await runApi('PUT anonymize', 1);
      } else await runSluice('operator alone', false, r, false);
    }
  }

  const gdcm = median(results.gdcmanon!);
  const rows = [
    ['read + parse + anonymize operator (Basic Profile)', median(results.sluice!)],
    ['read + parse + anonymize operator + anonymization keys', median(results['sluice+keys']!)],
    [
      'anonymize operator alone (envelopes ready, as ingest hands them over)',
      median(results['operator alone']!),
    ],
    ['POST /api/images/{id}/anonymized (file answered, key recorded)', median(results['POST anonymized']!)],
    ['PUT /api/images/{id}/anonymize (stored image replaced, durable)', median(results['PUT anonymize']!)],
    ['gdcmanon -e (Basic Profile, GDCM 3.0)', gdcm],
  ] as const;
  const aloneRate = median(results['operator alone']!);
  console.log(`\n${count} CT instances 512×512, ${rounds} rounds, median instances/s`);
  console.log('| Anonymizer | inst/s | ms per instance | vs gdcmanon | vs operator alone |');
  console.log('|---|---|---|---|---|');
  for (const [name, rate] of rows)
    console.log(
      `| ${name} | ${rate.toFixed(0)} | ${(1000 / rate).toFixed(2)} | ${(rate / gdcm).toFixed(2)}× | ` +
        `${(aloneRate / rate).toFixed(2)}× the time |`,
    );
  console.log('\nRequest times (eight in flight unless said):');
  for (const [label, times] of Object.entries(latencies)) {
    const sorted = [...times].sort((a, b) => a - b);
    console.log(
      `${label}: request latency median ${median(sorted).toFixed(1)} ms, ` +
        `95th percentile ${sorted[Math.floor(sorted.length * 0.95)]!.toFixed(1)} ms, slowest ${sorted.at(-1)!.toFixed(1)} ms`,
    );
  }
  const alone = aloneRate / gdcm;
  const whole = median(results.sluice!) / gdcm;
  const verdict = (r: number) => (r >= TARGET_RATIO ? 'met' : 'NOT met');
  console.log(
    `\ntarget: at least ${TARGET_RATIO}× gdcmanon: operator alone ${verdict(alone)}, ` +
      `with reading and parsing ${verdict(whole)}`,
  );
  const apiVerdict = (label: string) =>
    aloneRate / median(results[label]!) <= API_RATIO ? 'met' : 'NOT met';
  console.log(
    `target: the API within ${API_RATIO}× the operator alone's time per instance: ` +
      `POST ${apiVerdict('POST anonymized')}, PUT ${apiVerdict('PUT anonymize')}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
