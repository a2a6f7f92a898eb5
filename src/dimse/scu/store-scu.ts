/**
 * A C-STORE and C-ECHO requestor (SCU): stored files are streamed into P-DATA exactly as they are on disk,
 * behind a command set, not re-encoded (except for a peer that refuses the stored syntax: explicit VR
 * little endian is re-encoded in implicit VR, compressed and deflated files are decompressed).
 * (dcmjs-dimse's client managed 20–49 instances/s here because it re-encodes every file and leaves
 * Nagle's algorithm on.) One association per call; the SCU and the forwarding worker build on it.
 */
import { Status, VERIFICATION } from '../commands.js';
import type { ProposedContext } from '../pdu.js';
import { TransferSyntax } from '../../dicom/transfer-syntax.js';
import { needsDecompression, transcodeFile } from '../../render/transcode.js';
import { DimseError, Requestor, type ScuTarget } from './association.js';
import {
  contextKeys,
  MAX_CONTEXTS,
  reencode,
  storedDataset,
  syntaxesToPropose,
  type Decompress,
  type StoredFile,
} from './stored-files.js';

export interface StoreResult {
  sopInstanceUid: string;
  /** DIMSE status; -1 when the instance could not be sent (no accepted presentation context). */
  status: number;
  comment?: string;
}

/** C-ECHO: resolves when the peer answers success. */
export async function echoScp(target: ScuTarget): Promise<void> {
  const a = await Requestor.open(target);
  try {
    const { accepted } = await a.associate([
      { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] },
    ]);
    if (!accepted.has(1)) throw new DimseError('DIMSE.NO_CONTEXT', `${a.peer} does not accept verification`);
    const { status } = await a.echo(1);
    if (status !== Status.Success)
      throw new DimseError('DIMSE.FAILED', `${a.peer} answered C-ECHO with status 0x${status.toString(16)}`);
    await a.release();
  } finally {
    a.destroy();
  }
}

/**
 * Sends stored files over one association. For each SOP class it proposes every stored transfer syntax
 * (files go out as they are on disk) and the uncompressed fallbacks of `syntaxesToPropose`, one context per
 * pair, shared by the files that need it (128 at most). The stored syntax is used whenever the peer accepts
 * it; otherwise the first accepted fallback: explicit VR little endian files are re-encoded in implicit VR,
 * compressed and deflated ones decompressed by `decompress`, one file at a time, so an association holds at
 * most one decompressed instance. A file that cannot be decompressed fails alone (status -1 with the reason).
 * Resolves with one result per file; an unreachable peer or a refused association rejects with a DimseError.
 */
export async function storeFiles(
  target: ScuTarget,
  files: StoredFile[],
  /** Called with each result as it arrives, so that a later failure does not hide what was delivered. */
  onResult?: (result: StoreResult) => void,
  decompress: Decompress = transcodeFile,
  /** Stops before the next file once aborted (a C-CANCEL of the C-MOVE these are sub-operations of). */
  signal?: AbortSignal,
): Promise<StoreResult[]> {
  const contextIds = new Map<string, number>();
  const contexts: ProposedContext[] = [];
  for (const f of files) {
    const missing = contextKeys(f).filter((key) => !contextIds.has(key));
    if (contexts.length + missing.length > MAX_CONTEXTS)
      throw new DimseError(
        'DIMSE.TOO_MANY_CONTEXTS',
        `more than ${MAX_CONTEXTS} presentation contexts needed for one association`,
      );
    for (const key of missing) {
      const id = contexts.length * 2 + 1;
      const [abstractSyntax, transferSyntax] = key.split('|');
      contexts.push({ id, abstractSyntax, transferSyntaxes: [transferSyntax] });
      contextIds.set(key, id);
    }
  }
  const a = await Requestor.open(target);
  try {
    const { accepted, maxPduLength } = await a.associate(contexts);
    if (!accepted.size)
      throw new DimseError(
        'DIMSE.NO_CONTEXT',
        `${a.peer} accepted none of the proposed presentation contexts`,
      );
    const results: StoreResult[] = [];
    const report = (result: StoreResult) => {
      results.push(result);
      onResult?.(result);
    };
    for (const f of files) {
      if (signal?.aborted) break;
      const syntaxes = syntaxesToPropose(f.transferSyntaxUid);
      const chosen = syntaxes.find((ts) => accepted.has(contextIds.get(`${f.sopClassUid}|${ts}`)!));
      if (!chosen) {
        report({
          sopInstanceUid: f.sopInstanceUid,
          status: -1,
          comment: `${a.peer} does not accept SOP class ${f.sopClassUid} in transfer syntax ${syntaxes.join(' or ')}`,
        });
        continue;
      }
      const contextId = contextIds.get(`${f.sopClassUid}|${chosen}`)!;
      if (chosen === f.transferSyntaxUid) {
        const { status, comment } = await a.store(contextId, f, maxPduLength, await storedDataset(f.object));
        report({ sopInstanceUid: f.sopInstanceUid, status, comment });
        continue;
      }
      let dataset: Buffer;
      try {
        dataset = await reencode(f, chosen, decompress);
      } catch (err) {
        const what = needsDecompression(f.transferSyntaxUid) ? 'decompress' : 're-encode';
        report({
          sopInstanceUid: f.sopInstanceUid,
          status: -1,
          comment: `cannot ${what} ${f.transferSyntaxUid} to ${chosen} for ${a.peer}, which refuses SOP class ${f.sopClassUid} in ${f.transferSyntaxUid}: ${(err as Error).message}`,
        });
        continue;
      }
      const { status, comment } = await a.store(contextId, f, maxPduLength, dataset);
      report({ sopInstanceUid: f.sopInstanceUid, status, comment });
    }
    await a.release();
    return results;
  } finally {
    a.destroy();
  }
}

/** C-STORE statuses after which the peer has the instance: success and the warnings (PS3.4 B.2.3). */
export function isStored(status: number): boolean {
  return (
    status === Status.Success ||
    status === 0x0001 ||
    status === 0xb000 ||
    status === 0xb006 ||
    status === 0xb007
  );
}
