import { describe, expect, it } from 'vitest';
import { recordState, registry } from './metrics.js';
import type { ForwardingTransactionView } from '../forwarding/service.js';

const samples = async () => {
  const out = new Map<string, number>();
  for (const line of (await registry.metrics()).split('\n'))
    if (line && !line.startsWith('#')) {
      const i = line.lastIndexOf(' ');
      out.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
  return out;
};

const transaction = (over: Partial<ForwardingTransactionView>): ForwardingTransactionView => ({
  id: 1,
  ruleId: 1,
  routeKey: 'rule:1',
  target: { kind: 'scu', scuId: 1 },
  keepImages: true,
  status: 'OPEN',
  attempts: 0,
  created: 0,
  updated: 0,
  nextAttemptAt: 0,
  lastError: '',
  boxTransactionId: null,
  totalImageCount: 0,
  sentImageCount: 0,
  destination: 'PACS',
  ...over,
});

describe('scrape-time metrics', () => {
  it('reports the outbox depth and oldest age, dead letters and box transfers per destination', async () => {
    recordState({
      pipelines: [],
      now: 100_000,
      outbox: [
        transaction({ id: 1, created: 40_000, totalImageCount: 10, sentImageCount: 4 }),
        transaction({ id: 2, created: 90_000, totalImageCount: 3, status: 'RETRY' }),
        transaction({ id: 3, status: 'FAILED', totalImageCount: 5, sentImageCount: 1 }),
        transaction({ id: 4, destination: 'ARCHIVE', created: 99_000, totalImageCount: 2 }),
      ],
      outgoing: [
        { boxName: 'site-b', status: 'FINISHED', sentImageCount: 7, failedImageCount: 1, totalImageCount: 8 },
      ],
      incoming: [
        {
          id: 1,
          boxId: 1,
          boxName: 'site-b',
          outgoingTransactionId: 9,
          receivedImageCount: 3,
          addedImageCount: 2,
          failedImageCount: 0,
          totalImageCount: 5,
          created: 0,
          updated: 0,
          status: 'PROCESSING',
        },
      ],
    });
    const s = await samples();
    expect(s.get('sluice_outbox_instances{destination="PACS"}')).toBe(9);
    expect(s.get('sluice_outbox_oldest_age_seconds{destination="PACS"}')).toBe(60);
    expect(s.get('sluice_outbox_instances{destination="ARCHIVE"}')).toBe(2);
    expect(s.get('sluice_outbox_dead_letters{destination="PACS"}')).toBe(1);
    expect(s.get('sluice_outbox_dead_letter_instances{destination="PACS"}')).toBe(4);
    expect(s.get('sluice_box_transactions{box="site-b",direction="outgoing",status="FINISHED"}')).toBe(1);
    expect(s.get('sluice_box_images{box="site-b",direction="outgoing",result="sent"}')).toBe(7);
    expect(s.get('sluice_box_images{box="site-b",direction="incoming",result="received"}')).toBe(3);

    // State, not history: what is gone from the stores is gone from the next scrape.
    recordState({ pipelines: [], now: 0, outbox: [], outgoing: [], incoming: [] });
    expect([...(await samples()).keys()].filter((k) => k.startsWith('sluice_outbox_'))).toEqual([]);
  });
});
