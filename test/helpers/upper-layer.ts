/** Hand-built upper layer PDUs for tests that must misbehave on purpose. */
import { APPLICATION_CONTEXT } from '../../src/dimse/pdu.js';

export function ulItem(type: number, content: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUInt16BE(content.length, 2);
  return Buffer.concat([h, content]);
}

export function associateRq(
  opts: { called?: string; calling?: string; abstractSyntax?: string; applicationContext?: string } = {},
): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(1, 0);
  fixed.write((opts.called ?? 'SLUICE').padEnd(16, ' '), 4, 'latin1');
  fixed.write((opts.calling ?? 'TESTER').padEnd(16, ' '), 20, 'latin1');
  const maxLen = Buffer.alloc(4);
  maxLen.writeUInt32BE(16384);
  const body = Buffer.concat([
    fixed,
    ulItem(0x10, Buffer.from(opts.applicationContext ?? APPLICATION_CONTEXT)),
    ulItem(
      0x20,
      Buffer.concat([
        Buffer.from([1, 0, 0, 0]),
        ulItem(0x30, Buffer.from(opts.abstractSyntax ?? '1.2.840.10008.5.1.4.1.1.2')),
        ulItem(0x40, Buffer.from('1.2.840.10008.1.2.1')),
      ]),
    ),
    ulItem(0x50, Buffer.concat([ulItem(0x51, maxLen), ulItem(0x52, Buffer.from('1.2.3.4'))])),
  ]);
  const h = Buffer.alloc(6);
  h[0] = 0x01;
  h.writeUInt32BE(body.length, 2);
  return Buffer.concat([h, body]);
}
