/**
 * C-STORE requests the SCP sends on an association its peer opened: the sub-operations of a C-GET
 * (PS3.4 C.4.3), on the storage contexts the requester proposed. The dataset is streamed as stored (or as
 * re-encoded for the context) in PDVs of the peer's size; the response comes back through the session.
 */
import { CommandField, encodeRequest } from '../commands.js';
import { datasetPdvs, encodePData, maxPdvValue } from '../pdu.js';
import type { DatasetChunks, SopInstance } from '../scu/association.js';
import type { AssociationChannel } from '../qr/session.js';

export async function writeStoreRequest(
  channel: AssociationChannel,
  contextId: number,
  messageId: number,
  instance: SopInstance,
  dataset: Buffer | DatasetChunks,
): Promise<void> {
  const maxValue = maxPdvValue(channel.peerMaxPduLength);
  const command = encodeRequest(
    CommandField.CStoreRq,
    messageId,
    instance.sopClassUid,
    instance.sopInstanceUid,
  );
  await channel.write([encodePData(contextId, true, command)]);
  if (Buffer.isBuffer(dataset)) {
    await channel.write(datasetPdvs(contextId, dataset, maxValue, true));
    return;
  }
  let remaining = dataset.length;
  for await (const chunk of dataset.chunks) {
    remaining -= chunk.length;
    await channel.write(datasetPdvs(contextId, chunk, maxValue, remaining <= 0));
  }
  if (dataset.length === 0) await channel.write(datasetPdvs(contextId, Buffer.alloc(0), maxValue, true));
}
