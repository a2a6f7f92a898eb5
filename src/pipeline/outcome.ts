/**
 * How an envelope ended, as its source learns it: `ack` after the last sink, `drop` (filtered on purpose;
 * counts as an ack) or `quarantine` (a typed error; the source reports a failure).
 */
import type { Envelope } from './envelope.js';
import type { SluiceError } from '../errors.js';

export type Outcome =
  | { kind: 'ack'; envelope: Envelope }
  | { kind: 'drop'; envelope: Envelope; reason: string }
  | { kind: 'quarantine'; envelope?: Envelope; error: SluiceError; quarantineId?: string };
