import type { DicomSender, SendResult } from '../../forwarding/scus.js';
import type { ScuTarget } from './association.js';
import { isStored, storeFiles, type StoreResult } from './store-scu.js';
import { associationGroups, readStoredFile, type Decompress, type StoredFile } from './stored-files.js';

/**
 * The DicomSender port over this SCU: reads each file's meta information, then sends over as few
 * associations as the 128 presentation contexts allow (`contextKeys`: up to three per SOP class and stored
 * transfer syntax, the uncompressed ones shared within a SOP class). `decompress` defaults to decoding on
 * the calling thread; main.ts passes the render pool's, which decodes in a worker thread.
 */
export function dimseSender(
  callingAe: string,
  options: { timeoutMs?: number; decompress?: Decompress } = {},
): DicomSender {
  return {
    async send(peer, objects, onResult) {
      const target: ScuTarget = {
        host: peer.host,
        port: peer.port,
        calledAe: peer.aeTitle,
        callingAe,
        timeoutMs: options.timeoutMs,
      };
      const files: StoredFile[] = [];
      for (const object of objects) files.push(await readStoredFile(object));
      const out: SendResult[] = [];
      const toResult = (r: StoreResult): SendResult => ({ ...r, stored: isStored(r.status) });
      for (const group of associationGroups(files))
        for (const r of await storeFiles(target, group, (r) => onResult?.(toResult(r)), options.decompress))
          out.push(toResult(r));
      return out;
    },
  };
}
