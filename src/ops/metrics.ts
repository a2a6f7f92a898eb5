/**
 * Prometheus metrics (`GET /metrics`, src/ops/routes.ts). Two kinds:
 * - events counted where they happen, cheaply (a label lookup and an add): DICOM associations and the
 *   instances and bytes they carry, each stage's latency and bytes (perItem), HTTP requests;
 * - state read when scraped: the pipelines' counters and in-flight envelopes (`engine.pipelines()`), the
 *   forwarding outbox and dead letters, box transfers, and Node's process metrics (RSS, event-loop lag).
 *
 * Labels carry pipeline names, component paths (`sinks[0]`, as in the pipeline file and `/api/pipelines`),
 * AE titles, routes and destinations: never anything from an instance's attributes.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ComponentStatus, PipelineStatus } from '../pipeline/runner.js';
import type { ForwardingTransactionView } from '../forwarding/service.js';
import type { IncomingTransaction, OutgoingTransaction } from '../boxes/store.js';

export const registry = new Registry();
let defaultsStarted = false;

/** Node's process metrics (RSS, event-loop lag, heap, GC): started once, by the first engine or scrape. */
export function startProcessMetrics(): void {
  if (defaultsStarted) return;
  defaultsStarted = true;
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
}

const counter = (name: string, help: string, labelNames: string[]) =>
  new Counter({ name, help, labelNames, registers: [registry] });
const gauge = (name: string, help: string, labelNames: string[]) =>
  new Gauge({ name, help, labelNames, registers: [registry] });

// ---------------------------------------------------------------------------------------- DICOM SCP

export const associations = counter(
  'sluice_dicom_associations_total',
  'DICOM associations by our AE title and result (accepted, refused)',
  ['ae', 'result'],
);
export const associationsOpen = gauge('sluice_dicom_associations_open', 'DICOM associations open now', [
  'ae',
]);
export const dicomInstances = counter(
  'sluice_dicom_instances_total',
  'C-STORE requests answered, by our AE title and result (success, failure)',
  ['ae', 'result'],
);
export const dicomBytes = counter(
  'sluice_dicom_received_bytes_total',
  'Bytes of C-STORE datasets received (with the file meta we add)',
  ['ae'],
);

// ------------------------------------------------------------------------------------------ stages

export const stageSeconds = new Histogram({
  name: 'sluice_stage_duration_seconds',
  help: 'Time an operator or sink spent on one envelope, by pipeline and component path',
  labelNames: ['pipeline', 'component'],
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  registers: [registry],
});
export const stageBytes = counter(
  'sluice_stage_bytes_total',
  'Bytes of the envelopes an operator or sink passed on (a storage sink: bytes stored)',
  ['pipeline', 'component'],
);

/** Records envelopes through one stage (perItem, for every operator and sink): seconds spent, bytes passed. */
export function stageObserver(pipeline: string, component: string): (seconds: number, bytes: number) => void {
  const seconds = stageSeconds.labels({ pipeline, component });
  const bytes = stageBytes.labels({ pipeline, component });
  return (s, b) => {
    seconds.observe(s);
    if (b > 0) bytes.inc(b);
  };
}

// -------------------------------------------------------------------------------------------- HTTP

export const httpRequests = counter(
  'sluice_http_requests_total',
  'HTTP requests by method, route and status',
  ['method', 'route', 'status'],
);
export const httpSeconds = new Histogram({
  name: 'sluice_http_request_duration_seconds',
  help: 'Time to the response headers, by method and route',
  labelNames: ['method', 'route'],
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  registers: [registry],
});

// ------------------------------------------------------------------------------- state, at scrape

const componentInfo = gauge('sluice_component_info', 'Each component of each pipeline (value 1)', [
  'pipeline',
  'component',
  'kind',
  'type',
]);
const componentUp = gauge(
  'sluice_component_up',
  'Whether a component works (0 while a source is starting or failed, or its pipeline stopped)',
  ['pipeline', 'component'],
);
const COMPONENT_COUNTERS = ['received', 'emitted', 'dropped', 'quarantined', 'errors'] as const;
const componentCounters = Object.fromEntries(
  COMPONENT_COUNTERS.map((name) => [
    name,
    counter(`sluice_component_${name}_total`, `Envelopes ${name} by each component`, [
      'pipeline',
      'component',
    ]),
  ]),
) as Record<(typeof COMPONENT_COUNTERS)[number], Counter>;
const pipelineInstances = counter(
  'sluice_pipeline_instances_total',
  'Envelopes settled by each pipeline: acknowledged (stored by its sinks), dropped, quarantined',
  ['pipeline', 'outcome'],
);
const instancesStored = counter(
  'sluice_instances_stored_total',
  'Instances stored by the storage sinks of each pipeline',
  ['pipeline'],
);
const inFlight = gauge('sluice_pipeline_in_flight', 'Envelopes in flight in each pipeline', ['pipeline']);
const maxInFlight = gauge('sluice_pipeline_max_in_flight', 'Envelopes in flight at most (max_in_flight)', [
  'pipeline',
]);
const pipelineUp = gauge('sluice_pipeline_up', 'Whether each pipeline runs', ['pipeline']);

const outboxInstances = gauge(
  'sluice_outbox_instances',
  'Instances waiting in the forwarding outbox, by destination',
  ['destination'],
);
const outboxOldest = gauge(
  'sluice_outbox_oldest_age_seconds',
  'Age of the oldest waiting forwarding batch, by destination',
  ['destination'],
);
const deadLetters = gauge(
  'sluice_outbox_dead_letters',
  'Forwarding batches in the dead letters (FAILED), by destination',
  ['destination'],
);
const deadLetterInstances = gauge(
  'sluice_outbox_dead_letter_instances',
  'Instances not sent in dead-lettered batches, by destination',
  ['destination'],
);
const boxTransactions = gauge(
  'sluice_box_transactions',
  'Box transactions kept, by box, direction and status',
  ['box', 'direction', 'status'],
);
const boxImages = gauge(
  'sluice_box_images',
  'Images of the box transactions kept, by box, direction and result (sent/received, added, failed, total)',
  ['box', 'direction', 'result'],
);

const busLag = gauge(
  'sluice_bus_consumer_lag',
  "Events of a pipeline's topic published but not yet committed by its workers, by partition (as last measured, every 2 s)",
  ['pipeline', 'partition'],
);
const busEvents = gauge(
  'sluice_bus_events',
  'Events this process published to the bus (a front end) or took from it and settled (a worker), by pipeline',
  ['pipeline', 'direction'],
);
const busRole = gauge(
  'sluice_bus_role',
  'What this process runs of a pipeline split over the bus: 1 for each of frontend and worker it runs',
  ['pipeline', 'role'],
);

/** Sets the scrape-time metrics from the engine's and the stores' state. */
export function recordState(state: {
  pipelines: PipelineStatus[];
  outbox: ForwardingTransactionView[];
  outgoing: Array<
    Pick<
      OutgoingTransaction,
      'boxName' | 'status' | 'sentImageCount' | 'failedImageCount' | 'totalImageCount'
    >
  >;
  incoming: IncomingTransaction[];
  now: number;
}): void {
  for (const m of [componentInfo, componentUp, inFlight, maxInFlight, pipelineUp, busLag, busEvents, busRole])
    m.reset();
  for (const m of [...Object.values(componentCounters), pipelineInstances, instancesStored]) m.reset();
  for (const p of state.pipelines) {
    const pipeline = p.name;
    pipelineUp.set({ pipeline }, p.running ? 1 : 0);
    inFlight.set({ pipeline }, p.inFlight);
    maxInFlight.set({ pipeline }, p.maxInFlight);
    pipelineInstances.inc({ pipeline, outcome: 'acknowledged' }, p.acknowledged);
    pipelineInstances.inc({ pipeline, outcome: 'dropped' }, p.dropped);
    pipelineInstances.inc({ pipeline, outcome: 'quarantined' }, p.quarantined);
    let stored = 0;
    for (const c of p.components) {
      const component = c.path;
      componentInfo.set({ pipeline, component, kind: c.kind, type: c.type }, 1);
      componentUp.set({ pipeline, component }, p.running && !componentDown(c) ? 1 : 0);
      for (const name of COMPONENT_COUNTERS)
        componentCounters[name].inc({ pipeline, component }, c.counters[name]);
      if (c.type === 'storage') stored += c.counters.emitted;
    }
    instancesStored.inc({ pipeline }, stored);
    if (p.bus) {
      busRole.set({ pipeline, role: 'frontend' }, p.bus.frontend ? 1 : 0);
      busRole.set({ pipeline, role: 'worker' }, p.bus.worker ? 1 : 0);
      busEvents.set({ pipeline, direction: 'published' }, p.bus.published);
      busEvents.set({ pipeline, direction: 'consumed' }, p.bus.consumed);
      for (const l of p.bus.lag ?? []) busLag.set({ pipeline, partition: String(l.partition) }, l.lag);
    }
  }

  for (const m of [
    outboxInstances,
    outboxOldest,
    deadLetters,
    deadLetterInstances,
    boxTransactions,
    boxImages,
  ])
    m.reset();
  const oldest = new Map<string, number>();
  for (const t of state.outbox) {
    const destination = t.destination;
    const left = t.totalImageCount - t.sentImageCount;
    if (t.status === 'FAILED') {
      deadLetters.inc({ destination });
      deadLetterInstances.inc({ destination }, left);
      continue;
    }
    outboxInstances.inc({ destination }, left);
    oldest.set(destination, Math.min(oldest.get(destination) ?? Infinity, t.created));
  }
  for (const [destination, created] of oldest)
    outboxOldest.set({ destination }, Math.max(0, (state.now - created) / 1000));

  for (const t of state.outgoing) {
    const labels = { box: t.boxName, direction: 'outgoing' };
    boxTransactions.inc({ ...labels, status: t.status });
    boxImages.inc({ ...labels, result: 'sent' }, t.sentImageCount);
    boxImages.inc({ ...labels, result: 'failed' }, t.failedImageCount);
    boxImages.inc({ ...labels, result: 'total' }, t.totalImageCount);
  }
  for (const t of state.incoming) {
    const labels = { box: t.boxName, direction: 'incoming' };
    boxTransactions.inc({ ...labels, status: t.status });
    boxImages.inc({ ...labels, result: 'received' }, t.receivedImageCount);
    boxImages.inc({ ...labels, result: 'added' }, t.addedImageCount);
    boxImages.inc({ ...labels, result: 'failed' }, t.failedImageCount);
    boxImages.inc({ ...labels, result: 'total' }, t.totalImageCount);
  }
}

/** A source that is not up (starting, or failed and being opened again); operators and sinks have no state. */
export function componentDown(c: ComponentStatus): boolean {
  return c.state !== undefined && c.state !== 'running';
}
