import { describe, expect, it } from 'vitest';
import {
  APPLICATION_CONTEXT,
  encodeAbort,
  encodeAssociateAc,
  encodePData,
  parseAssociateRq,
  parsePData,
  parsePDataParts,
  PduReader,
  PduType,
  ProtocolError,
} from './pdu.js';
import { CommandField, encodeResponse, parseCommand, Status } from './commands.js';
import { associateRq, ulItem } from '../../test/helpers/upper-layer.js';

function associateRqBody(): Buffer {
  return associateRq({ called: 'SLUICE', calling: 'MODALITY' }).subarray(6);
}

describe('upper layer PDUs', () => {
  it('parses an A-ASSOCIATE-RQ', () => {
    const rq = parseAssociateRq(associateRqBody());
    expect(rq).toMatchObject({
      calledAe: 'SLUICE',
      callingAe: 'MODALITY',
      applicationContext: APPLICATION_CONTEXT,
      maxPduLength: 16384,
      implementationClassUid: '1.2.3.4',
      contexts: [
        { id: 1, abstractSyntax: '1.2.840.10008.5.1.4.1.1.2', transferSyntaxes: ['1.2.840.10008.1.2.1'] },
      ],
    });
  });

  it('refuses items that overrun the PDU', () => {
    const body = associateRqBody();
    body.writeUInt16BE(0xffff, 68 + 2);
    expect(() => parseAssociateRq(body)).toThrow(ProtocolError);
  });

  it('answers with an A-ASSOCIATE-AC that echoes the AE titles and carries the results', () => {
    const rq = parseAssociateRq(associateRqBody());
    const ac = encodeAssociateAc(rq, [{ id: 1, result: 0, transferSyntax: '1.2.840.10008.1.2.1' }], {
      maxPduLength: 262144,
      implementationClassUid: '1.2.3',
      implementationVersionName: 'X',
    });
    expect(ac[0]).toBe(PduType.AssociateAc);
    expect(ac.readUInt32BE(2)).toBe(ac.length - 6);
    expect(ac.toString('latin1', 10, 26)).toBe('SLUICE          ');
    expect(ac.includes(Buffer.from('1.2.840.10008.1.2.1'))).toBe(true);
  });

  it('frames PDUs split across and joined within socket chunks', () => {
    const a = encodePData(1, true, Buffer.from('command!'));
    const b = encodeAbort(0);
    const stream = Buffer.concat([a, b]);
    const reader = new PduReader(16384);
    const seen: number[] = [];
    for (let i = 0; i < stream.length; i += 3) {
      reader.push(stream.subarray(i, i + 3));
      for (let p = reader.next(); p; p = reader.next()) seen.push(p.type);
    }
    expect(seen).toEqual([PduType.PData, PduType.Abort]);
  });

  it('hands P-DATA over as the pieces it arrived in, PDV values split anywhere, without copying them', () => {
    const value = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const stream = Buffer.concat([encodePData(5, true, Buffer.from('cmd')), encodePData(5, false, value)]);
    for (const size of [1, 3, 7, 64, 999, stream.length]) {
      const reader = new PduReader(16384);
      const pdvs: Array<{ isCommand: boolean; bytes: Buffer; pieces: number }> = [];
      for (let i = 0; i < stream.length; i += size) {
        reader.push(Buffer.from(stream.subarray(i, i + size)));
        for (let p = reader.nextParts(); p; p = reader.nextParts())
          for (const pdv of parsePDataParts(p.parts))
            pdvs.push({
              isCommand: pdv.isCommand,
              bytes: Buffer.concat(pdv.pieces),
              pieces: pdv.pieces.length,
            });
      }
      expect(pdvs.map((p) => [p.isCommand, p.bytes.toString('latin1')])).toEqual([
        [true, 'cmd'],
        [false, value.toString('latin1')],
      ]);
      if (size === stream.length) expect(pdvs[1].pieces).toBe(1);
    }
    const bad = encodePData(3, false, Buffer.from('data')).subarray(6);
    const parts = [Buffer.from(bad.subarray(0, 3)), Buffer.from(bad.subarray(3))];
    parts[0].writeUInt8(0xff, 0);
    expect(() => parsePDataParts(parts)).toThrow(ProtocolError);
  });

  it('splits P-DATA into PDVs and refuses absurd lengths', () => {
    const pdu = encodePData(3, false, Buffer.from('data'));
    expect(parsePData(pdu.subarray(6))).toEqual([
      { contextId: 3, isCommand: false, isLast: true, value: Buffer.from('data') },
    ]);
    const bad = Buffer.from(pdu.subarray(6));
    bad.writeUInt32BE(1000, 0);
    expect(() => parsePData(bad)).toThrow(ProtocolError);
    const reader = new PduReader(16384);
    const huge = Buffer.alloc(6);
    huge[0] = PduType.PData;
    huge.writeUInt32BE(10_000_000, 2);
    reader.push(huge);
    expect(() => reader.next()).toThrow(/exceeds the negotiated maximum/);
    const unknown = new PduReader(16384);
    unknown.push(Buffer.from([0x09, 0, 0, 0, 0, 0]));
    expect(() => unknown.next()).toThrow(/unknown PDU type/);
  });
});

describe('DIMSE commands', () => {
  it('round-trips a C-STORE response through the command parser', () => {
    const request = {
      commandField: CommandField.CStoreRq,
      messageId: 7,
      affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      affectedSopInstanceUid: '1.2.3.4.5',
      hasDataset: true,
    };
    const rsp = encodeResponse(request, CommandField.CStoreRsp, Status.CannotUnderstand, 'bad data');
    const parsed = parseCommand(rsp);
    expect(parsed).toMatchObject({
      commandField: CommandField.CStoreRsp,
      affectedSopClassUid: request.affectedSopClassUid,
      affectedSopInstanceUid: request.affectedSopInstanceUid,
      hasDataset: false,
    });
    expect(rsp.readUInt32LE(8)).toBe(rsp.length - 12);
    const statusAt = rsp.indexOf(Buffer.from([0x00, 0x00, 0x00, 0x09]));
    expect(rsp.readUInt16LE(statusAt + 8)).toBe(Status.CannotUnderstand);
  });
});
