/**
 * `dicom_scp`: a C-ECHO and C-STORE SCP. dcmjs-dimse speaks the protocol; we own the TCP server (bound to
 * the configured host, no-delay on every socket), receive each dataset's PDV bytes straight into a landing
 * file behind a file meta header we write ourselves (bytes stored as received), and answer the C-STORE
 * only once the instance has gone through the pipeline: success after the last sink, a failure status
 * when it was quarantined or could not be stored.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Observable } from 'rxjs';
import { z } from 'zod';
import dimse from 'dcmjs-dimse';
import { defineSource, type SourceContext } from '../../core/component.js';
import type { Envelope } from '../../core/envelope.js';
import { ACCEPTED_TRANSFER_SYNTAXES, isStorageSopClass } from '../../core/dicom.js';
import { LandedStoreStream } from './landed-store-stream.js';

const { Scp, Dataset, constants, responses } = dimse;
const { PresentationContextResult, RejectResult, RejectSource, RejectReason, SopClass, Status } = constants;
const { CEchoResponse, CStoreResponse } = responses;

dimse.log.setLevel('silent');

/** C-STORE failure statuses (PS3.4 B.2.3). */
export const StoreStatus = {
  Success: 0x0000,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
} as const;

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
    .default(1024 * 1024)
    .describe('Largest PDU we accept (offered to the peer)'),
  association_timeout_ms: z
    .number()
    .int()
    .min(1000)
    .default(60_000)
    .describe('Idle time before an association is dropped'),
});

export type DicomScpConfig = z.infer<typeof config>;

export const dicomScp = defineSource({
  type: 'dicom_scp',
  sourceType: 'scp',
  summary: 'DICOM C-ECHO and C-STORE SCP; answers success only after the instance is stored',
  config,
  example: {
    name: 'DICOM SCP',
    source_id: 1,
    port: 11112,
    ae_title: 'SLUICE',
    require_called_ae: false,
    max_associations: 32,
    max_pdu_length: 1048576,
    association_timeout_ms: 60000,
  },
  create: (cfg, ctx) =>
    new Observable<Envelope>((subscriber) => {
      const host = cfg.host ?? ctx.services.config.dicomHost;
      const port = cfg.port ?? ctx.services.config.dicomPort;
      const ourAe = cfg.ae_title ?? ctx.services.config.aeTitle;
      const sockets = new Set<Socket>();
      const server: Server = createServer((socket) => {
        if (sockets.size >= cfg.max_associations) {
          socket.destroy();
          return;
        }
        sockets.add(socket);
        socket.setNoDelay(true);
        socket.once('close', () => sockets.delete(socket));
        socket.on('error', () => socket.destroy());
        const scp = new SluiceScp(
          socket,
          { associationTimeout: cfg.association_timeout_ms, pduTimeout: cfg.association_timeout_ms },
          {
            ctx,
            cfg,
            ourAe,
            emit: (e) => subscriber.next(e),
            socket,
          },
        );
        (scp as unknown as { connected: boolean }).connected = true;
        scp.on('networkError', () => socket.destroy());
      });
      server.on('error', (err) => subscriber.error(new Error(`dicom_scp ${host}:${port}: ${err.message}`)));
      server.listen(port, host);
      return () => {
        server.close();
        for (const s of sockets) s.destroy();
      };
    }),
});

interface ScpDeps {
  ctx: SourceContext;
  cfg: DicomScpConfig;
  ourAe: string;
  emit: (envelope: Envelope) => void;
  socket: Socket;
}

/** The data we keep per C-STORE between "bytes received" and "dataset complete". */
const received = new WeakMap<object, LandedStoreStream>();

class SluiceScp extends Scp {
  private association: dimse.association.Association | undefined;

  constructor(
    socket: Socket,
    opts: Record<string, unknown>,
    private readonly deps: ScpDeps,
  ) {
    super(socket, opts);
  }

  associationRequested(association: dimse.association.Association): void {
    this.association = association;
    const called = association.getCalledAeTitle().trim();
    if (this.deps.cfg.require_called_ae && called !== this.deps.ourAe) {
      this.sendAssociationReject(
        RejectResult.Permanent,
        RejectSource.ServiceUser,
        RejectReason.CalledAeNotRecognized,
      );
      return;
    }
    association.setMaxPduLength(this.deps.cfg.max_pdu_length);
    for (const c of association.getPresentationContexts()) {
      const context = association.getPresentationContext(c.id);
      const abstract = context.getAbstractSyntaxUid();
      if (abstract !== SopClass.Verification && !isStorageSopClass(abstract)) {
        context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
        continue;
      }
      const syntax = context.getTransferSyntaxUids().find((ts) => ACCEPTED_TRANSFER_SYNTAXES.includes(ts));
      if (syntax) context.setResult(PresentationContextResult.Accept, syntax);
      else context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
    }
    this.sendAssociationAccept();
  }

  associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
  }

  cEchoRequest(
    request: dimse.requests.CEchoRequest,
    callback: (r: dimse.responses.CEchoResponse) => void,
  ): void {
    const response = CEchoResponse.fromRequest(request);
    response.setStatus(Status.Success);
    callback(response);
  }

  createStoreWritableStream(
    context: dimse.association.PresentationContext,
    request: dimse.requests.CStoreRequest,
  ): import('node:stream').Writable {
    const stream = new LandedStoreStream(this.deps.ctx.landing, {
      sopClassUid: request.getAffectedSopClassUid(),
      sopInstanceUid: request.getAffectedSopInstanceUid(),
      transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? '',
      sourceAeTitle: this.association?.getCallingAeTitle(),
      ref: { sourceType: 'scp', sourceId: this.deps.cfg.source_id },
    });
    received.set(request, stream);
    return stream;
  }

  createDatasetFromStoreWritableStream(
    _writable: import('node:stream').Writable,
    context: dimse.association.PresentationContext,
    callback: (dataset: dimse.Dataset) => void,
  ): void {
    // Called synchronously so dcmjs-dimse resets its per-message state before the next PDU; the real
    // work (fsync, parse, pipeline) happens in cStoreRequest, which answers asynchronously.
    callback(new Dataset({}, context.getAcceptedTransferSyntaxUid()));
  }

  cStoreRequest(
    request: dimse.requests.CStoreRequest,
    callback: (r: dimse.responses.CStoreResponse) => void,
  ): void {
    const respond = (status: number, comment?: string) => {
      const response = CStoreResponse.fromRequest(request);
      response.setStatus(status);
      if (comment) response.setErrorComment(comment.slice(0, 64));
      callback(response);
    };
    const stream = received.get(request);
    received.delete(request);
    if (!stream) {
      respond(StoreStatus.OutOfResources, 'no data received');
      return;
    }
    const { ctx, emit, socket } = this.deps;
    void (async () => {
      let landedPath: string;
      let content: Buffer | undefined;
      try {
        ({ path: landedPath, content } = await stream.commit());
      } catch (err) {
        respond(StoreStatus.OutOfResources, `cannot store: ${(err as Error).message}`);
        return;
      }
      // A full pipeline stops this association from reading more until there is room.
      socket.pause();
      await ctx.waitForRoom();
      socket.resume();
      const outcome = await ctx.ingest(
        emit,
        landedPath,
        {
          sourceType: 'scp',
          sourceId: this.deps.cfg.source_id,
          sourceName: this.deps.cfg.name,
          detail: this.association?.getCallingAeTitle(),
        },
        content,
      );
      if (outcome.kind === 'ack' || outcome.kind === 'drop') respond(StoreStatus.Success);
      else if (outcome.error.code === 'DICOM.INVALID' || outcome.error.code === 'DICOM.UNSUPPORTED_CONTEXT')
        respond(StoreStatus.CannotUnderstand, outcome.error.message);
      else respond(StoreStatus.OutOfResources, outcome.error.message);
    })().catch((err) => respond(StoreStatus.OutOfResources, String(err)));
  }

  abort(): void {
    this.deps.socket.destroy();
  }
}
