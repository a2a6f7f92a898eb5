/**
 * Harmonization across processes: four processes share one state store and anonymize images of the same new
 * patient at the same moment, each with its own secret, so each would propose a different pseudonym. The key
 * store's transaction (SQLite: IMMEDIATE; PostgreSQL, in the scale project: a lock on the patient) must make
 * every image take the pseudonym of the first key committed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openTestState, testStateUrl } from './helpers/state-engines.js';
import { newUid } from './fixtures/dicom-fixtures.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-key-race-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const worker = (args: string[]) =>
  new Promise<string[]>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/key-race-worker.ts', ...args],
      { timeout: 60_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    ),
  );

it('gives one patient one pseudonym when four processes race', async () => {
  // The store's file, or its PostgreSQL database in the scale project.
  const place = testStateUrl(dir) ?? join(dir, 'state.sqlite');
  await (await openTestState(dir)).close(); // schema made once, before the race
  const studyInstanceUid = newUid();
  // Far enough ahead for every process to have started and loaded its modules.
  const startAt = String(Date.now() + 8_000);
  const results = await Promise.all(
    ['secret-a', 'secret-b', 'secret-c', 'secret-d'].map((secret) =>
      worker([place, secret, '6', 'RACE-X', studyInstanceUid, startAt]),
    ),
  );
  const all = results.flat();
  expect(all).toHaveLength(24);
  expect(new Set(all).size).toBe(1);
  const state = await openTestState(dir);
  try {
    const keys = await state.listAnonymizationKeys({ startIndex: 0, count: 100 });
    expect(keys).toHaveLength(24);
    expect(new Set(keys.map((k) => k.anonPatientID))).toEqual(new Set(all));
    expect(new Set(keys.map((k) => k.anonStudyInstanceUID)).size).toBe(1);
  } finally {
    await state.close();
  }
}, 90_000);
