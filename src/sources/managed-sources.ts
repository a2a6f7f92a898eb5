/**
 * `managed_sources`: the SCPs, watched directories and import sessions that users create through the API
 * (`/api/scps`, `/api/directorywatches`, `/api/import/sessions`) feed the pipeline that has this source.
 * It follows the state store live: a created SCP listens before its 201, a deleted one is closed before
 * its 204. Each managed source runs on the same code as its pipeline-file twin (`dicom_scp`,
 * `watch_folder`), so limits, durability and answers are the same.
 */
import { Observable, type Subscription } from 'rxjs';
import { z } from 'zod';
import { defineSource } from '../pipeline/component.js';
import type { Envelope } from '../pipeline/envelope.js';
import { asSluiceError, SluiceError } from '../errors.js';
import type { ManagedSourceFollower } from '../managed-sources/service.js';
import { openScpServer, type ScpServer } from './dicom-scp.js';
import { watchFolder } from './watch-folder.js';
import { logger } from '../ops/logger.js';

const log = logger('managed_sources');

const config = z.strictObject({
  max_associations: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .default(32)
    .describe('Simultaneous associations at most, per managed SCP'),
  max_pdu_length: z
    .number()
    .int()
    .min(4096)
    .max(4 * 1024 * 1024)
    .default(256 * 1024)
    .describe('Largest PDU a managed SCP accepts'),
  association_timeout_ms: z
    .number()
    .int()
    .min(1000)
    .default(60_000)
    .describe('Idle time before an association is dropped'),
  query_retrieve: z
    .boolean()
    .default(true)
    .describe(
      'Managed SCPs offer C-FIND, C-MOVE and C-GET, each unless created with queryRetrieve: false (callers allowed as for dicom_scp without a list); false: none does',
    ),
  stable_ms: z
    .number()
    .int()
    .min(0)
    .default(1000)
    .describe('A file in a watched directory is imported once its size has not changed for this long'),
  concurrency: z
    .number()
    .int()
    .min(1)
    .max(256)
    .default(4)
    .describe('Files imported at once, per watched directory'),
});

export const managedSources = defineSource({
  type: 'managed_sources',
  summary:
    'The SCPs, watched directories and import sessions managed through the API, followed live (files in watched directories are deleted once stored)',
  config,
  example: {
    max_associations: 32,
    max_pdu_length: 262144,
    association_timeout_ms: 60000,
    query_retrieve: true,
    stable_ms: 1000,
    concurrency: 4,
  },
  create: (cfg, ctx) =>
    new Observable<Envelope>((subscriber) => {
      const service = ctx.services.managedSources;
      const scps = new Map<number, ScpServer>();
      const watches = new Map<number, Subscription>();
      const emit = (envelope: Envelope) => subscriber.next(envelope);
      let detach: (() => void) | undefined;
      let closed = false;

      const follower: ManagedSourceFollower = {
        async openScp(scp) {
          const server = openScpServer(
            {
              name: scp.name,
              source_id: scp.id,
              port: scp.port,
              ae_title: scp.aeTitle,
              require_called_ae: false,
              max_associations: cfg.max_associations,
              max_pdu_length: cfg.max_pdu_length,
              association_timeout_ms: cfg.association_timeout_ms,
              association_request_timeout_ms: 10_000,
              max_held_bytes: 128 * 1024 * 1024,
              query_retrieve: cfg.query_retrieve && scp.queryRetrieve,
            },
            ctx,
            emit,
            (err) => {
              ctx.counters.errors++;
              log.error({ scp: scp.id, scpName: scp.name, err }, 'SCP failed');
            },
          );
          await server.listening;
          if (closed) return server.close();
          scps.set(scp.id, server);
          log.info({ scp: scp.id, scpName: scp.name, port: scp.port, aeTitle: scp.aeTitle }, 'SCP listening');
        },
        async closeScp(id) {
          await scps.get(id)?.close();
          scps.delete(id);
        },
        async openWatch(dir) {
          if (closed) return;
          const child = watchFolder.create(
            {
              path: dir.path,
              name: dir.name,
              source_id: dir.id,
              after_import: 'delete',
              stable_ms: cfg.stable_ms,
              poll_interval_ms: 100,
              concurrency: cfg.concurrency,
              ignore_hidden: true,
            },
            // A managed watch reports its own failures below; it does not make managed_sources "starting".
            { ...ctx, starting: () => undefined },
          );
          watches.set(
            dir.id,
            child.subscribe({
              next: emit,
              error: (err: Error) => {
                ctx.counters.errors++;
                watches.delete(dir.id);
                log.error({ directory: dir.id, directoryName: dir.name, err }, 'watched directory stopped');
              },
            }),
          );
          log.info({ directory: dir.id, directoryName: dir.name, path: dir.path }, 'watching directory');
        },
        async closeWatch(id) {
          watches.get(id)?.unsubscribe();
          watches.delete(id);
        },
        async importFile(session, body, filename) {
          const origin = {
            sourceType: 'import' as const,
            sourceId: session.id,
            sourceName: session.name,
            detail: filename,
          };
          await ctx.waitForRoom();
          let landedPath: string;
          try {
            landedPath = (await ctx.landing.land(body, origin)).path;
          } catch (err) {
            return { kind: 'quarantine', error: asSluiceError(err, 'UPLOAD.FAILED') };
          }
          return ctx.ingest(emit, landedPath, origin);
        },
      };

      service.attach(follower).then(
        (d) => (closed ? d() : (detach = d)),
        (err: Error) => subscriber.error(err),
      );
      return () => {
        closed = true;
        detach?.();
        for (const server of scps.values()) void server.close();
        for (const watch of watches.values()) watch.unsubscribe();
        scps.clear();
        watches.clear();
      };
    }),
});
