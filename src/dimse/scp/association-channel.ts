/**
 * An accepted association as Query/Retrieve operations use it (src/dimse/qr/session.ts): the peer's AE
 * title and maximum PDU, the accepted presentation contexts, and writes that wait for the socket to drain,
 * so that a retrieve streaming many instances holds at most a socket buffer in memory.
 */
import type { Socket } from 'node:net';
import type { AssociateRq } from '../pdu.js';
import type { AssociationChannel } from '../qr/session.js';

export function associationChannel(
  socket: Socket,
  rq: AssociateRq,
  /** Accepted context id → transfer syntax. */
  accepted: ReadonlyMap<number, string>,
  opts: { timeoutMs: number; isClosed: () => boolean; abort: () => void },
): AssociationChannel {
  const contexts = new Map(
    rq.contexts
      .filter((c) => accepted.has(c.id))
      .map((c) => [c.id, { abstractSyntax: c.abstractSyntax, transferSyntax: accepted.get(c.id)! }]),
  );
  const closed = () => new Error('association closed');
  return {
    callingAe: rq.callingAe,
    peerMaxPduLength: rq.maxPduLength,
    contexts,
    timeoutMs: opts.timeoutMs,
    async write(pdus) {
      if (opts.isClosed()) throw closed();
      socket.cork();
      for (const pdu of pdus) socket.write(pdu);
      socket.uncork();
      if (!socket.writableNeedDrain) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done).off('close', done);
          resolve();
        };
        socket.on('drain', done).on('close', done);
      });
      if (opts.isClosed()) throw closed();
    },
    abort: opts.abort,
  };
}
