/**
 * The forwarding worker's bookkeeping with a scripted sender (the real SCU is exercised against storescp and
 * Orthanc in test/forwarding.integration.test.ts): backoff, partial deliveries, dead letters, lost images.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFsBlobStore } from '../adapters/fs-blob-store.js';
import { openSqliteIndex } from '../adapters/sqlite-index.js';
import { openSqliteState } from '../adapters/sqlite-state.js';
import { ForwardingService } from './forwarding.js';
import { LogService } from './log.js';
import type { BlobStore, MetadataIndex, StateStore } from './ports.js';
import type { DicomPeer, DicomSender, SendResult } from './scus.js';
import { PipelineError } from './errors.js';
import { DEFAULT_FORWARDING, loadConfig } from './config.js';

let dir: string;
let state: StateStore;
let index: MetadataIndex;
let blobs: BlobStore;
let service: ForwardingService | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-forwarding-'));
  state = openSqliteState(join(dir, 'state.sqlite'));
  index = openSqliteIndex(':memory:');
  blobs = await openFsBlobStore(join(dir, 'storage'));
});
afterEach(async () => {
  await service?.stop();
  service = undefined;
  state.close();
  index.close();
  await rm(dir, { recursive: true, force: true });
});

/** The blob store keeps `<key>.dcm`; keys here are the SOP instance UIDs. */
const sop = (p: string) => p.slice(p.lastIndexOf('/') + 1).replace(/\.dcm$/, '');
/** Answers each send with the next script step: a function of the paths it was given. */
function scriptedSender(steps: Array<(paths: string[], onResult: (r: SendResult) => void) => void>) {
  const calls: string[][] = [];
  const sender: DicomSender = {
    async send(_peer: DicomPeer, paths, onResult) {
      calls.push(paths.map(sop));
      const step = steps.shift();
      if (!step) throw new Error('unexpected send');
      const results: SendResult[] = [];
      step(paths, (r) => {
        results.push(r);
        onResult?.(r);
      });
      return results;
    },
  };
  return { sender, calls };
}

const ok = (p: string): SendResult => ({ sopInstanceUid: sop(p), stored: true, status: 0 });
const refused = (p: string): SendResult => ({ sopInstanceUid: sop(p), stored: false, status: 0xa700 });
const down = () => {
  throw new PipelineError('DIMSE.UNREACHABLE', 'cannot connect to 127.0.0.1:1: connect ECONNREFUSED', 502);
};

async function setUp(sender: DicomSender, maxAttempts = 5) {
  const scu = state.insertScu({ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: 1 });
  service = new ForwardingService(
    state,
    { index, blobs, storageKey: (s) => s, sender, log: new LogService(state) },
    { quietMs: 0, batchMax: 100, concurrency: 1, maxAttempts, retryBaseMs: 20, retryMaxMs: 50 },
  );
  const rule = service.createRule({
    source: { sourceType: 'scp', sourceName: 'SCP', sourceId: 1 },
    destinationType: 'scu',
    destinationId: scu.id,
    keepImages: true,
  });
  for (const uid of ['1.1', '1.2', '1.3']) {
    const file = join(dir, uid);
    await writeFile(file, uid);
    await blobs.putFile(uid, file);
  }
  for (const [i, uid] of ['1.1', '1.2', '1.3'].entries())
    await service.forwardByRules({ sourceType: 'scp', sourceId: 1 }, { imageId: i + 1, sopInstanceUid: uid });
  return { rule, scu };
}

async function until(what: string, probe: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !probe(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!probe()) throw new Error(`never: ${what}`);
}

const messages = (type: 'INFO' | 'WARN' | 'ERROR') =>
  state
    .listLogEntries({ startIndex: 0, count: 100, subject: 'Forwarding', entryType: type })
    .map((e) => e.message)
    .reverse();

describe('forwarding worker', () => {
  it('resends only what the peer did not store, doubling the wait up to the maximum', async () => {
    const { sender, calls } = scriptedSender([
      (paths, report) => {
        report(ok(paths[0]));
        report(refused(paths[1]));
        report(ok(paths[2]));
      },
      () => down(),
      () => down(),
      (paths, report) => paths.forEach((p) => report(ok(p))),
    ]);
    await setUp(sender);
    service!.start();
    await until(
      'an empty outbox',
      () => state.listForwardingTransactions({ startIndex: 0, count: 10 }).length === 0,
    );
    expect(calls).toEqual([['1.1', '1.2', '1.3'], ['1.2'], ['1.2'], ['1.2']]);
    const warnings = messages('WARN');
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(
      /attempt 1 of 5 to send 1 instance\(s\) .* did not store 1 of 3 instances: 1\.2: status 0xa700; next attempt in 20 ms$/,
    );
    expect(warnings.map((w) => /next attempt in (.*)$/.exec(w)?.[1])).toEqual(['20 ms', '40 ms', '50 ms']);
    expect(messages('INFO').at(-1)).toMatch(
      /: 1 instance\(s\) delivered to SCU "pacs" .* after 3 failed attempt\(s\)$/,
    );
  });

  it('dead-letters at once when the destination SCU was deleted, and skips images deleted meanwhile', async () => {
    const { sender, calls } = scriptedSender([(paths, report) => paths.forEach((p) => report(ok(p)))]);
    const { scu } = await setUp(sender);
    await blobs.delete('1.2');
    state.deleteScu(scu.id);
    service!.start();
    await until(
      'a dead letter',
      () => state.listForwardingTransactions({ startIndex: 0, count: 10, status: 'FAILED' }).length === 1,
    );
    expect(calls).toEqual([]);
    expect(messages('ERROR')[0]).toMatch(
      /3 instance\(s\) to SCU \d+ \(deleted\) moved to the dead letters after 1 attempt\(s\): SCU \d+ no longer exists$/,
    );

    // A retry by hand of a batch whose SCU is gone fails again at once.
    const [dead] = state.listForwardingTransactions({ startIndex: 0, count: 10 });
    service!.retry(dead.id);
    await until('failed again', () => state.forwardingTransaction(dead.id)?.status === 'FAILED');
    expect(state.forwardingTransaction(dead.id)?.attempts).toBe(1);
  });

  it('marks instances deleted from storage before the send as done, with a warning', async () => {
    const { sender, calls } = scriptedSender([(paths, report) => paths.forEach((p) => report(ok(p)))]);
    await setUp(sender);
    await blobs.delete('1.2');
    service!.start();
    await until(
      'an empty outbox',
      () => state.listForwardingTransactions({ startIndex: 0, count: 10 }).length === 0,
    );
    expect(calls).toEqual([['1.1', '1.3']]);
    expect(messages('WARN')[0]).toMatch(
      /1 instance\(s\) of forwarding transaction \d+ were deleted before they could be sent to .*: 1\.2$/,
    );
  });
});

describe('forwarding configuration', () => {
  it('reads SLUICE_FORWARD_* with Slicebox-like defaults and refuses nonsense', () => {
    expect(loadConfig({}).forwarding).toEqual(DEFAULT_FORWARDING);
    expect(DEFAULT_FORWARDING.quietMs).toBe(30_000);
    expect(
      loadConfig({
        SLUICE_FORWARD_QUIET_MS: '0',
        SLUICE_FORWARD_MAX_ATTEMPTS: '3',
        SLUICE_FORWARD_BATCH_MAX: '7',
      }).forwarding,
    ).toMatchObject({ quietMs: 0, maxAttempts: 3, batchMax: 7 });
    expect(() => loadConfig({ SLUICE_FORWARD_CONCURRENCY: '0' })).toThrow(
      'SLUICE_FORWARD_CONCURRENCY: SLUICE_FORWARD_CONCURRENCY must be at least 1',
    );
    expect(() => loadConfig({ SLUICE_FORWARD_RETRY_BASE_MS: 'soon' })).toThrow(/must be a number/);
  });
});
