import { useEffect, useRef } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from './api';
import type { PipelineStatus } from './types';

let held = 0;

/**
 * Runs `work` (an anonymization or deletion that replaces what the current page shows) without the live
 * refresh asking for the ids it is deleting; the caller refreshes once it has left the page.
 */
export async function withoutLiveRefresh<T>(work: () => Promise<T>): Promise<T> {
  held++;
  try {
    return await work();
  } finally {
    setTimeout(() => held--, 500);
  }
}

/**
 * Live updates by polling the pipelines' counters every 2 s (one small request): when an instance is
 * stored, dropped or quarantined anywhere, the metadata lists, quarantine and import counters refresh,
 * so new data appears without reloading.
 */
export function useLivePipelines() {
  const qc = useQueryClient();
  const query = useQuery({
    queryKey: ['pipelines'],
    queryFn: () => api<PipelineStatus[]>('/pipelines'),
    refetchInterval: 2_000,
  });
  const signature = query.data?.map((p) => `${p.acknowledged}/${p.dropped}/${p.quarantined}`).join(',') ?? '';
  const previous = useRef('');
  useEffect(() => {
    if (previous.current && signature && previous.current !== signature && held === 0) {
      for (const key of ['metadata', 'quarantine', 'imports', 'log'])
        void qc.invalidateQueries({ queryKey: [key] });
    }
    if (signature) previous.current = signature;
  }, [signature, qc]);
  const totals = (query.data ?? []).reduce(
    (t, p) => ({
      stored: t.stored + p.acknowledged,
      quarantined: t.quarantined + p.quarantined,
      inFlight: t.inFlight + p.inFlight,
    }),
    { stored: 0, quarantined: 0, inFlight: 0 },
  );
  return { query, totals };
}
