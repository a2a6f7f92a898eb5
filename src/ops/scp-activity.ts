/**
 * What a DICOM SCP's associations did, told once per association at info (calling and called AE, peer,
 * instances, bytes, failures, duration) and once per instance at debug, and counted in the metrics.
 * Instances are named by SOP Instance UID only.
 */
import type { AssociationObserver } from '../dimse/scp/connection.js';
import { Status } from '../dimse/commands.js';
import { logger } from './logger.js';
import { associations, associationsOpen, dicomBytes, dicomInstances } from './metrics.js';

const log = logger('dicom_scp');

const REFUSALS: Record<string, string> = {
  '1:2': 'application context not supported',
  '1:3': 'calling AE title not recognized',
  '1:7': 'called AE title not recognized',
  '3:2': 'too many associations',
};

/** An observer for one connection to the SCP `ourAe` listening on `port`. */
export function scpActivity(ourAe: string, port: number, peer: string | undefined): AssociationObserver {
  const started = performance.now();
  let callingAe = '';
  let calledAe = '';
  let instances = 0;
  let failures = 0;
  let bytes = 0;
  const stored = dicomInstances.labels({ ae: ourAe, result: 'success' });
  const failed = dicomInstances.labels({ ae: ourAe, result: 'failure' });
  const received = dicomBytes.labels({ ae: ourAe });
  return {
    accepted(rq) {
      callingAe = rq.callingAe;
      calledAe = rq.calledAe;
      associations.inc({ ae: ourAe, result: 'accepted' });
      associationsOpen.inc({ ae: ourAe });
      if (log.enabled('debug')) log.debug({ callingAe, calledAe, peer, port }, 'association accepted');
    },
    refused(reason, source) {
      associations.inc({ ae: ourAe, result: 'refused' });
      log.warn(
        { port, peer, reason: REFUSALS[`${source}:${reason}`] ?? `reason ${reason}` },
        'association refused',
      );
    },
    stored(sopInstanceUid, size, status) {
      const ok = status === Status.Success;
      instances++;
      bytes += size;
      received.inc(size);
      if (ok) stored.inc();
      else {
        failures++;
        failed.inc();
      }
      if (log.enabled('debug'))
        log.debug(
          { callingAe, sopInstanceUid, bytes: size, status: `0x${status.toString(16).padStart(4, '0')}` },
          ok ? 'instance stored' : 'instance refused',
        );
    },
    ended(how) {
      associationsOpen.dec({ ae: ourAe });
      const durationMs = Math.round(performance.now() - started);
      const summary = { callingAe, calledAe, peer, port, instances, bytes, failures, durationMs, how };
      if (failures || how !== 'released') log.warn(summary, `association ${how}`);
      else log.info(summary, `association ${how}`);
    },
  };
}
