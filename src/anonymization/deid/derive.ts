/**
 * What the per-installation secret derives: new UIDs, patient pseudonyms and date shifts, each the same on
 * every run with the same secret, and none reversible without it.
 */
import { createHmac } from 'node:crypto';

/** `2.25.<decimal of 128 bits of HMAC-SHA256(secret, "uid:" + uid)>`: consistent and not reversible. */
export function mapUid(secret: Buffer | string, uid: string): string {
  const digest = createHmac('sha256', secret).update(`uid:${uid}`).digest();
  return `2.25.${BigInt('0x' + digest.subarray(0, 16).toString('hex')).toString()}`;
}

/** Pseudonyms a Z on PatientName / PatientID turns into, derived from the real patient. */
export function patientPseudonym(
  secret: Buffer | string,
  patientName: string,
  patientId: string,
): { patientName: string; patientId: string } {
  const hex = createHmac('sha256', secret)
    .update(`patient:${patientName}\u0000${patientId}`)
    .digest('hex')
    .slice(0, 12)
    .toUpperCase();
  return { patientName: `ANONYMOUS^${hex}`, patientId: `ANON${hex}` };
}

/** Days the Modified Dates option moves a patient's dates back: 1..3650, fixed per patient and secret. */
export function dateShiftDays(secret: Buffer | string, patientName: string, patientId: string): number {
  const digest = createHmac('sha256', secret).update(`dates:${patientName}\u0000${patientId}`).digest();
  return (digest.readUInt32BE(0) % 3650) + 1;
}

/**
 * A DeidentificationMethod value that says this installation applied exactly these options to the instance
 * that now has this SOP Instance UID: `SLUICE <128 bits of HMAC-SHA256(secret, options + UID)>`. Another
 * installation, another option set or another instance gives another value.
 */
export function methodMark(
  secret: Buffer | string,
  options: readonly string[],
  sopInstanceUid: string,
): string {
  const digest = createHmac('sha256', secret)
    .update(`method:${[...options].sort().join(',')}\u0000${sopInstanceUid}`)
    .digest('hex')
    .slice(0, 32)
    .toUpperCase();
  return `SLUICE ${digest}`;
}
