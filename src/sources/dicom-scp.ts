/**
 * `dicom_scp`: a C-ECHO and C-STORE SCP on our own TCP server (bound to the configured host, no-delay on
 * every socket) speaking the DICOM upper layer directly (see src/dimse/pdu.ts for why not dcmjs-dimse). Each
 * dataset's PDV bytes are kept behind a file meta header we write, landed durably as received, and the
 * C-STORE is answered only once the instance has gone through the pipeline: success after the last sink,
 * a failure status when it was quarantined or could not be stored.
 */
import { performance } from 'node:perf_hooks';
import { createServer, type Server, type Socket } from 'node:net';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { defineSource, type SourceContext } from '../pipeline/component.js';
import type { Envelope } from '../pipeline/envelope.js';
import { STATIC_SOURCE_ID_MAX } from '../pipeline/origin.js';
import { isStorageSopClass } from '../dicom/header.js';
import { ACCEPTED_TRANSFER_SYNTAXES } from '../dicom/transfer-syntax.js';
import { ScpConnection } from '../dimse/scp/connection.js';
import { ScpLimits } from '../dimse/scp/limits.js';
import { Status } from '../dimse/commands.js';
import { scpActivity } from '../ops/scp-activity.js';

const aeTitle = z
  .string()
  .trim()
  .min(1)
  .max(16)
  .regex(/^[\x20-\x5b\x5d-\x7e]+$/, 'printable ASCII without backslash');

const config = z.strictObject({
  name: z
    .string()
    .min(1)
    .default('DICOM SCP')
    .describe('Source name shown in /api/sources and series sources'),
  source_id: z
    .number()
    .int()
    .min(0)
    .max(
      STATIC_SOURCE_ID_MAX,
      `at most ${STATIC_SOURCE_ID_MAX}: higher ids are for sources created through the API`,
    )
    .default(1)
    .describe('Source id recorded with every instance ({sourceType: "scp", sourceId})'),
  host: z.string().min(1).optional().describe('Address to bind; default SLUICE_DICOM_HOST (127.0.0.1)'),
  port: z.number().int().min(0).max(65535).optional().describe('TCP port; default SLUICE_DICOM_PORT (11112)'),
  ae_title: aeTitle.optional().describe('Our AE title; default SLUICE_AE_TITLE (SLUICE)'),
  require_called_ae: z
    .boolean()
    .default(false)
    .describe('Reject associations whose called AE title is not ours (Slicebox accepts any)'),
  max_associations: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .default(32)
    .describe('Simultaneous associations at most'),
  max_pdu_length: z
    .number()
    .int()
    .min(4096)
    .max(4 * 1024 * 1024)
    .default(256 * 1024)
    .describe('Largest PDU we accept (offered to the peer)'),
  association_timeout_ms: z
    .number()
    .int()
    .min(1000)
    .default(60_000)
    .describe('Time an association may go without a complete PDU before it is aborted'),
  association_request_timeout_ms: z
    .number()
    .int()
    .min(100)
    .default(10_000)
    .describe('Time a new connection has to send its whole A-ASSOCIATE-RQ'),
  max_held_bytes: z
    .number()
    .int()
    .min(0)
    .default(128 * 1024 * 1024)
    .describe('Bytes of received datasets held in memory at once; past it, datasets go to landing files'),
  query_retrieve: z
    .boolean()
    .default(true)
    .describe(
      'Offer C-FIND, C-MOVE and C-GET (Patient and Study Root) over the index and stored files; false: their presentation contexts are rejected',
    ),
  query_retrieve_ae_titles: z
    .array(aeTitle.or(z.literal('*')))
    .max(1000)
    .optional()
    .describe(
      'Calling AE titles that may query and retrieve ("*": any); default any when the SCP binds a loopback address, else the AE titles of the SCUs (/api/scus)',
    ),
});

export type DicomScpConfig = z.infer<typeof config>;

export const dicomScp = defineSource({
  type: 'dicom_scp',
  sourceType: 'scp',
  summary:
    'DICOM C-ECHO and C-STORE SCP (answers success only after the instance is stored), and C-FIND, C-MOVE and C-GET over the index',
  config,
  example: {
    name: 'DICOM SCP',
    source_id: 1,
    port: 11112,
    ae_title: 'SLUICE',
    require_called_ae: false,
    max_associations: 32,
    max_pdu_length: 262144,
    association_timeout_ms: 60000,
    association_request_timeout_ms: 10000,
    max_held_bytes: 134217728,
    query_retrieve: true,
  },
  create: (cfg, ctx) =>
    new Observable<Envelope>((subscriber) => {
      const scp = openScpServer(
        cfg,
        ctx,
        (e) => subscriber.next(e),
        (err) => subscriber.error(err),
      );
      ctx.starting(scp.listening);
      return () => void scp.close();
    }),
});

export interface ScpServer {
  /** Resolves once the port is bound; rejects when it cannot be (port in use, bad host). */
  readonly listening: Promise<void>;
  /** Stops listening, drops open associations, resolves when the port is free again. */
  close(): Promise<void>;
}

/** Opens the listener of a `dicom_scp` config: the pipeline source and managed SCPs both run on it. */
export function openScpServer(
  cfg: DicomScpConfig,
  ctx: SourceContext,
  emit: (envelope: Envelope) => void,
  onError: (err: Error) => void,
): ScpServer {
  const host = cfg.host ?? ctx.services.config.dicomHost;
  const port = cfg.port ?? ctx.services.config.dicomPort;
  const ourAe = cfg.ae_title ?? ctx.services.config.aeTitle;
  const ref = { sourceType: 'scp' as const, sourceId: cfg.source_id };
  const connections = new Set<ScpConnection>();
  // Handshakes are cheap to open and bounded in bytes and time: room for many, so that connections that
  // never associate cannot crowd out real senders.
  const limits = new ScpLimits(
    cfg.max_associations,
    Math.max(64, 8 * cfg.max_associations),
    cfg.max_held_bytes,
  );
  const queryRetrieve = cfg.query_retrieve
    ? ctx.services.queryRetrieve.forScp({ ourAe, host, allowedAeTitles: cfg.query_retrieve_ae_titles })
    : undefined;
  const server: Server = createServer((socket) => {
    const connection = new ScpConnection(socket, {
      limits,
      ourAe,
      requireCalledAe: cfg.require_called_ae,
      maxPduLength: cfg.max_pdu_length,
      timeoutMs: cfg.association_timeout_ms,
      requestTimeoutMs: cfg.association_request_timeout_ms,
      landing: ctx.landing,
      ref,
      observer: scpActivity(ourAe, port, socket.remoteAddress),
      acceptsAbstractSyntax: isStorageSopClass,
      draft: (sopInstanceUid) => ctx.draft(sopInstanceUid),
      transferSyntaxes: ACCEPTED_TRANSFER_SYNTAXES,
      queryRetrieve,
      async store({ receiver, callingAe, command }) {
        ctx.services.timings?.record('receive', performance.now() - receiver.startedAt);
        let landed;
        try {
          landed = await receiver.commit();
        } catch (err) {
          return { status: Status.OutOfResources, comment: `cannot store: ${(err as Error).message}` };
        }
        await ctx.waitForRoom();
        const outcome = await ctx.ingest(
          emit,
          landed.path,
          { ...ref, sourceName: cfg.name, detail: callingAe },
          {
            content: landed.content,
            draft: landed.draft,
            announced: {
              sopClassUid: command.affectedSopClassUid,
              sopInstanceUid: command.affectedSopInstanceUid,
            },
          },
        );
        if (outcome.kind === 'ack' || outcome.kind === 'drop') return { status: Status.Success };
        const invalid =
          outcome.error.code === 'DICOM.INVALID' || outcome.error.code === 'DICOM.UNSUPPORTED_CONTEXT';
        return {
          status: invalid ? Status.CannotUnderstand : Status.OutOfResources,
          // The Error Comment holds 64 characters: the reason, not the generic prefix.
          comment: outcome.error.message.replace(/^Invalid DICOM data: /, ''),
        };
      },
    });
    connections.add(connection);
    socket.once('close', () => connections.delete(connection));
  });
  const listening = new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  listening.then(
    () => server.on('error', (err) => onError(new Error(`dicom_scp ${host}:${port}: ${err.message}`))),
    (err: Error) => onError(new Error(`dicom_scp ${host}:${port}: ${err.message}`)),
  );
  server.listen(port, host);
  let closed: Promise<void> | undefined;
  return {
    listening,
    close: () =>
      (closed ??= listening.then(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            // Peers are told (A-ABORT) rather than left to time out on a silent socket.
            for (const connection of connections) connection.stop();
          }),
        () => undefined,
      )),
  };
}
