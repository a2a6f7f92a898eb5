import dcmjs from 'dcmjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  clickHouseEngines,
  onClickHouse,
  testDatabase,
  type ClickHouseEngine,
} from '../../../test/helpers/index-engines.js';
import { startClickHouse } from '../../../test/helpers/clickhouse.js';
import type { DicomHeader } from '../../dicom/header.js';
import type { IndexInput } from '../metadata-index.js';
import { openClickHouseIndex, type ClickHouseIndex } from './index.js';
import { int, intList, LiteralError, str, strList, wellFormed } from './literal.js';
import { LOOKUPS, MIGRATIONS, SCHEMA_TABLE, SCHEMA_VERSION } from './schema.js';

const { DicomMetaDictionary } = dcmjs.data;

/** Values that break naive SQL: quotes, backslashes, control bytes, LIKE wildcards, non-ASCII, bad UTF-16. */
const HOSTILE = [
  '',
  "'",
  "''",
  "\\'",
  '\\',
  '\\\\',
  "' OR '1'='1",
  "x'); DROP TABLE Patients; --",
  '" OR 1=1 --',
  'a\u0000b',
  'line\nbreak\r\n',
  'tab\there',
  '\u0001\u001f\u007f',
  '%_%',
  '100%_done\\',
  '{name:String}',
  '?',
  'Émile Ünïcödé 日本 🙂',
  'lone \ud800 surrogate',
  'lone \udc00 low',
  '\\x00\\n',
];

describe('literal encoder', () => {
  it('quotes every string so that nothing ends the literal', () => {
    expect(str('')).toBe("''");
    expect(str("O'Brien")).toBe("'O\\'Brien'");
    expect(str('a\\b')).toBe("'a\\\\b'");
    expect(str('a\u0000b\nc\td')).toBe("'a\\x00b\\x0ac\\x09d'");
    for (const value of HOSTILE) {
      const literal = str(value);
      const inner = literal.slice(1, -1);
      // Inside, quotes and backslashes only come escaped, control bytes only as \xHH.
      expect(inner.replace(/\\[\\']|\\x[0-9a-f]{2}/g, '')).not.toMatch(/['\\\u0000-\u001f\u007f]/);
    }
    expect(str('lone \ud800')).toBe("'lone \ufffd'");
    expect(wellFormed('ok 🙂')).toBe('ok 🙂');
    expect(() => str(1 as never)).toThrow(LiteralError);
  });

  it('writes only safe integers as numbers', () => {
    expect(int(0)).toBe('0');
    expect(int(-42)).toBe('-42');
    expect(int(2 ** 53 - 1)).toBe('9007199254740991');
    for (const bad of [NaN, Infinity, -Infinity, 1.5, 2 ** 60, '1' as never, null as never])
      expect(() => int(bad)).toThrow(LiteralError);
    expect(intList([1, 2])).toBe('(1, 2)');
    expect(strList(["a'b"])).toBe("('a\\'b')");
    expect(() => intList([])).toThrow(LiteralError);
    expect(() => strList([])).toThrow(LiteralError);
  });
});

const SCP = { sourceType: 'scp' as const, sourceId: 1, sourceName: 'SCP' };

function input(sop: string, attributes: Record<string, string> = {}): IndexInput {
  const dataset: DicomHeader['dataset'] = {};
  const all = {
    PatientName: 'Doe^John',
    PatientID: 'P1',
    StudyInstanceUID: '1.2.1',
    SeriesInstanceUID: '1.2.1.1',
    Modality: 'CT',
    ...attributes,
  };
  for (const [keyword, value] of Object.entries(all)) {
    const entry = DicomMetaDictionary.nameMap[keyword];
    dataset[entry.tag.replace(/[(),]/g, '').toUpperCase()] = {
      vr: entry.vr,
      Value: entry.vr === 'PN' ? [{ Alphabetic: value }] : [value],
    };
  }
  return {
    header: {
      meta: {},
      dataset,
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      sopInstanceUid: sop,
      pixelDataOffset: -1,
    },
    origin: SCP,
    size: 10,
  };
}

describe.skipIf(!onClickHouse()).each(clickHouseEngines())(
  'ClickHouse index on $name',
  (engine: ClickHouseEngine) => {
    const opened: ClickHouseIndex[] = [];
    const open = async (database: string) => {
      const index = await engine.open(database);
      opened.push(index);
      return index;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((index) => index.close()));
    });

    it('reads back every hostile string exactly as written', async () => {
      for (const value of HOSTILE) {
        const [row] = await engine.rows<{ v: string; n: number }>(
          `SELECT ${str(value)} AS v, positionCaseInsensitive(${str(`x${value}y`)}, ${str(value)}) AS n`,
        );
        expect(row.v, JSON.stringify(value)).toBe(wellFormed(value));
        expect(Number(row.n), JSON.stringify(value)).toBe(value === '' ? 1 : 2);
      }
      const index = await open(testDatabase());
      for (const [n, value] of HOSTILE.entries()) {
        const { image } = await index.upsert(input(`1.9.${n}`, { PatientName: value, PatientID: `ID${n}` }));
        const flat = (await index.flatSeries(image.seriesId))!;
        expect(flat.patient.patientName.value, JSON.stringify(value)).toBe(wellFormed(value).trim());
      }
    });

    it('creates its schema once, keeps data and ids across reopening, and never gives an id twice', async () => {
      const database = testDatabase();
      const first = await open(database);
      const a = (await first.upsert(input('1.1'))).image;
      const b = (await first.upsert(input('1.2', { SeriesInstanceUID: '1.2.1.2' }))).image;
      expect(await first.deleteImages([b.id])).toEqual([b.id]);
      await first.close();
      const again = await open(database);
      expect(await again.allImageIds()).toEqual([a.id]);
      expect((await again.upsert(input('1.1'))).created).toBe(false);
      const c = (await again.upsert(input('1.3', { SeriesInstanceUID: '1.2.1.3' }))).image;
      expect(c.id).toBeGreaterThan(b.id);
      expect(c.seriesId).toBeGreaterThan(b.seriesId);
      const versions = await engine.rows<{ version: number }>(
        `SELECT "version" FROM "${database}"."SluiceSchema" ORDER BY "version"`,
      );
      expect(versions.map((v) => Number(v.version))).toEqual(
        Array.from({ length: SCHEMA_VERSION }, (_, n) => n + 1),
      );
    });

    it('upgrades a version-1 index: fills the lookups from the current rows and answers the same', async () => {
      const database = testDatabase();
      const index = await open(database);
      const ct = { PatientID: 'P1', StudyInstanceUID: '1.2.1', SeriesInstanceUID: '1.2.1.1' };
      const mr = { PatientID: 'P1', StudyInstanceUID: '1.2.2', SeriesInstanceUID: '1.2.2.1', Modality: 'MR' };
      const other = { PatientID: 'P2', StudyInstanceUID: '1.3.1', SeriesInstanceUID: '1.3.1.1' };
      for (const [n, attributes] of [ct, ct, mr, mr, other, ct].entries())
        await index.upsert(input(`4.${n}`, attributes));
      // Moved to another series, and deleted: their stale lookup rows must not count.
      await index.upsert(input('4.1', mr));
      const gone = (await index.upsert(input('4.9', other))).image.id;
      await index.deleteImages([gone]);
      const answers = async (ix: ClickHouseIndex) => {
        const [p1] = await ix.query('patients', {
          startIndex: 0,
          count: 10,
          queryProperties: [{ propertyName: 'patientID', operator: '=', propertyValue: 'P1' }],
        });
        const studies = await ix.list('studies', { startIndex: 0, count: 10, parentId: p1.id });
        const series = await Promise.all(
          studies.map((st) => ix.list('series', { startIndex: 0, count: 10, parentId: st.id })),
        );
        const images = await Promise.all(
          series.flat().map((se) => ix.list('images', { startIndex: 0, count: 10, parentId: se.id })),
        );
        const bySop = await ix.query('images', {
          startIndex: 0,
          count: 10,
          queryProperties: [
            { propertyName: 'sopInstanceUID', operator: 'in', propertyValue: ['4.1', '4.9'] },
          ],
        });
        const found = await ix.find({
          level: 'STUDY',
          keys: [],
          returns: [
            'StudyInstanceUID',
            'NumberOfStudyRelatedSeries',
            'NumberOfStudyRelatedInstances',
            'ModalitiesInStudy',
          ],
          limit: 10,
          caseInsensitiveNames: false,
        });
        return { studies, series, images, bySop, found, ofPatient: await ix.imagesOfPatient(p1.id) };
      };
      const before = await answers(index);
      expect(before.images.map((list) => list.length)).toEqual([2, 3]);
      expect(before.bySop.map((image) => image.sopInstanceUID.value)).toEqual(['4.1']);
      await index.close();
      // Version 1: no lookup tables but ImagesBySop, and schema version 1.
      for (const l of LOOKUPS.filter((l) => l.table !== 'ImagesBySop'))
        await engine.rows(`DROP TABLE "${database}"."${l.table}"`);
      await engine.rows(`DROP TABLE "${database}"."SluiceSchema"`);
      await engine.rows(SCHEMA_TABLE(database));
      await engine.rows(
        `INSERT INTO "${database}"."SluiceSchema" ("version", "appliedAt") VALUES (1, now())`,
      );
      const upgraded = await open(database);
      expect(await answers(upgraded)).toEqual(before);
      // The migration again (as after an interrupted upgrade) changes nothing.
      for (const statement of MIGRATIONS[1]) await engine.rows(statement(database));
      expect(await answers(upgraded)).toEqual(before);
      for (const l of LOOKUPS) {
        const [{ n }] = await engine.rows<{ n: number }>(
          `SELECT count() AS n FROM "${database}"."${l.table}" FINAL WHERE "deleted" = 0`,
        );
        expect(Number(n), l.table).toBe(l.source === 'Images' ? 6 : 3);
      }
    });

    it('refuses a database whose schema is newer than the code', async () => {
      const database = testDatabase();
      await (await open(database)).close();
      await engine.rows(
        `INSERT INTO "${database}"."SluiceSchema" ("version", "appliedAt") VALUES (${SCHEMA_VERSION + 1}, now())`,
      );
      await expect(engine.open(database)).rejects.toThrow(
        new RegExp(
          `schema version ${SCHEMA_VERSION + 1}, newer than this Sluice knows \\(${SCHEMA_VERSION}\\)`,
        ),
      );
    });

    it('groups concurrent upserts into few INSERTs and keeps one id per SOP instance', async () => {
      const database = testDatabase();
      const index = await open(database);
      await index.upsert(input('0.0'));
      const count = 300;
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: count }, (_, n) =>
          index.upsert(input(`2.${n % 250}`, { SeriesInstanceUID: `1.2.1.${n % 10}` })),
        ),
      );
      const ms = performance.now() - started;
      expect(results.filter((r) => r.created)).toHaveLength(250);
      const ids = new Map<string, number>();
      for (const r of results) {
        const sop = r.image.sopInstanceUID.value;
        expect(ids.get(sop) ?? r.image.id).toBe(r.image.id);
        ids.set(sop, r.image.id);
      }
      expect(new Set(ids.values()).size).toBe(250);
      expect((await index.counts()).images).toBe(251);
      const [{ n }] = await engine.rows<{ n: number }>(
        `SELECT count() AS n FROM system.parts WHERE database = ${str(database)} AND table = 'Images' AND level = 0`,
      );
      // One INSERT for the lone first instance, then a handful of batches, not one per instance.
      expect(Number(n)).toBeLessThan(20);
      process.stderr.write(
        `clickhouse index on ${engine.name}: ${count} concurrent upserts in ${ms.toFixed(0)} ms (${((count / ms) * 1000).toFixed(0)}/s), ${n} image INSERTs\n`,
      );
    });
  },
);

describe.skipIf(!onClickHouse())('ClickHouse index reachability', () => {
  it('stops the start naming ClickHouse and the endpoint, never the password', async () => {
    const attempt = openClickHouseIndex({ url: 'http://sluice:secret@127.0.0.1:1/sluice' });
    await expect(attempt).rejects.toThrow(/ClickHouse index at http:\/\/127\.0\.0\.1:1/);
    await expect(attempt).rejects.not.toThrow(/secret/);
  });

  it('reports an outage while running, refuses writes with STORAGE.UNAVAILABLE and recovers', async () => {
    const server = await startClickHouse();
    try {
      const index = await openClickHouseIndex({ url: `${server.url}/outage` });
      await index.upsert(input('3.1'));
      expect(index.problem()).toBeUndefined();
      await server.stop(true);
      await expect(index.upsert(input('3.2'))).rejects.toMatchObject({ code: 'STORAGE.UNAVAILABLE' });
      expect(index.problem()).toMatch(/ClickHouse index at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
      await server.start();
      expect((await index.upsert(input('3.2'))).created).toBe(true);
      expect(index.problem()).toBeUndefined();
      expect((await index.counts()).images).toBe(2);
      await index.close();
    } finally {
      await server.cleanup();
    }
  });
});
