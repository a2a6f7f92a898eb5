/**
 * The ClickHouse metadata index beside the SQLite one, through the adapters themselves (no HTTP): fills each
 * with N synthetic instances (`inFlight` upserts at once, as the index sink does), then times the lookups
 * and pages Slicebox clients and Q/R ask for: median and p99 over `--requests` runs each. ClickHouse is
 * Debian's 18.16, started here as a plain process (test/helpers/clickhouse.ts).
 *
 *   npx tsx bench/index-clickhouse.ts [--count 100000] [--requests 30] [--in-flight 16]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startClickHouse } from '../test/helpers/clickhouse.js';
import { openClickHouseIndex } from '../src/storage/clickhouse-index/index.js';
import { openSqliteIndex } from '../src/storage/sqlite-index.js';
import type { MetadataIndex } from '../src/storage/metadata-index.js';
import { matcherOf, findAttribute } from '../src/storage/find-query.js';
import { fillIndex, syntheticHeader, type Shape } from './lib/synthetic-index.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    requests: { type: 'string', default: '30' },
    'in-flight': { type: 'string', default: '16' },
  },
});
const count = Number(values.count);
const requests = Number(values.requests);
const inFlight = Number(values['in-flight']);
const shape: Shape = {
  instances: count,
  patients: Math.max(1, count / 100),
  studies: Math.max(1, count / 20),
  series: Math.max(1, count / 5),
};

async function fill(index: MetadataIndex): Promise<number> {
  const started = performance.now();
  await fillIndex(index, shape, { inFlight });
  return (count / (performance.now() - started)) * 1000;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function time(work: (n: number) => Promise<unknown>): Promise<string> {
  const ms: number[] = [];
  for (let n = 0; n < requests; n++) {
    const started = performance.now();
    await work(n);
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return `p50 ${quantile(ms, 0.5).toFixed(1)} ms, p99 ${quantile(ms, 0.99).toFixed(1)} ms`;
}

async function measure(name: string, index: MetadataIndex): Promise<void> {
  const rate = await fill(index);
  console.log(`${name}: ${count} upserts, ${rate.toFixed(0)}/s with ${inFlight} in flight`);
  const page = { startIndex: 0, count: 20 };
  const pick = (n: number) => (n * 7919) % count;
  const cases: Array<[string, (n: number) => Promise<unknown>]> = [
    ['image by SOP UID', (n) => index.imageBySopInstanceUid(syntheticHeader(pick(n), shape).sopInstanceUid)],
    ['patients page 1', () => index.list('patients', page)],
    [
      'patients deep page',
      () => index.list('patients', { ...page, startIndex: Math.floor(shape.patients / 2) }),
    ],
    [
      'flatseries by modality, ordered by patient name',
      () =>
        index.query('flatseries', {
          ...page,
          order: { orderBy: 'patientName', orderAscending: true },
          queryProperties: [{ propertyName: 'modality', operator: '=', propertyValue: 'MR' }],
        }),
    ],
    ['studies filter text', () => index.list('studies', { ...page, filter: 'patient12' })],
    ['images of a series', (n) => index.list('images', { ...page, parentId: 1 + (pick(n) % shape.series) })],
    [
      'C-FIND studies of a patient',
      (n) =>
        index.find({
          level: 'STUDY',
          keys: [
            {
              keyword: 'PatientID',
              matcher: matcherOf(
                findAttribute('PatientID')!,
                `PID${String(pick(n) % shape.patients).padStart(7, '0')}`,
              )!,
            },
          ],
          returns: ['StudyInstanceUID', 'NumberOfStudyRelatedInstances', 'ModalitiesInStudy'],
          caseInsensitiveNames: true,
          limit: 100,
        }),
    ],
    ['counts', () => index.counts()],
  ];
  for (const [label, work] of cases) console.log(`  ${label}: ${await time(work)}`);
}

const server = await startClickHouse();
try {
  await measure('SQLite (memory)', openSqliteIndex(':memory:'));
  const clickhouse = await openClickHouseIndex({ url: `${server.url}/bench` });
  await measure('ClickHouse 18.16', clickhouse);
  await clickhouse.close();
} finally {
  await server.cleanup();
}
