import { useEffect, useRef } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from './api';
import type { PipelineStatus } from './types';

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
    if (previous.current && signature && previous.current !== signature) {
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
