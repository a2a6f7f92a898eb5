/**
 * From DICOMweb paths to what the index and the blob store hold: the instances under a study, series or
 * instance UID (with their row ids, SOP class and stored transfer syntax), and the base of the URLs we hand
 * out.
 */
import type { Context } from 'hono';
import { isValidUid } from '../../dicom/header.js';
import { BadRequestError, NotFoundError } from '../../errors.js';
import type { FindKey } from '../../storage/find-query.js';
import type { ApiDeps } from '../deps.js';

export interface LocatedInstance {
  imageId: number;
  seriesUid: string;
  studyUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
}

export interface Target {
  study: string;
  series?: string;
  instance?: string;
}

/**
 * `http(s)://host[:port]/dicom-web`: under SLUICE_PUBLIC_URL when it is set (behind a reverse proxy), else
 * as the client reached us. A Host header without the port (dicomweb-client sends one) gets the port the
 * request came in on.
 */
export function baseUrl(c: Context, publicUrl?: string): string {
  if (publicUrl) return `${publicUrl}/dicom-web`;
  const url = new URL(c.req.url);
  const localPort = (c.env as { incoming?: { socket?: { localPort?: number } } } | undefined)?.incoming
    ?.socket?.localPort;
  const hostHasPort = /:\d+$/.test(c.req.header('host') ?? '');
  const defaultPort = url.protocol === 'https:' ? 443 : 80;
  if (!url.port && !hostHasPort && localPort && localPort !== defaultPort) url.port = String(localPort);
  return `${url.origin}/dicom-web`;
}

export function checkUid(uid: string): string {
  if (!isValidUid(uid)) throw new BadRequestError(`"${uid.slice(0, 70)}" is not a valid UID`);
  return uid;
}

/** The URL of an instance under `base`. */
export const instanceUrl = (
  base: string,
  i: Pick<LocatedInstance, 'studyUid' | 'seriesUid' | 'sopInstanceUid'>,
) => `${base}/studies/${i.studyUid}/series/${i.seriesUid}/instances/${i.sopInstanceUid}`;

/** Instances read from the index at once. */
const PAGE = 5000;

/** Every instance under the target, in index order; 404 when there is none. */
export async function instancesOf(deps: ApiDeps, target: Target): Promise<LocatedInstance[]> {
  const keys: FindKey[] = [
    { keyword: 'StudyInstanceUID', matcher: { kind: 'single', value: checkUid(target.study) } },
  ];
  if (target.series)
    keys.push({ keyword: 'SeriesInstanceUID', matcher: { kind: 'single', value: checkUid(target.series) } });
  if (target.instance)
    keys.push({ keyword: 'SOPInstanceUID', matcher: { kind: 'single', value: checkUid(target.instance) } });
  const found: LocatedInstance[] = [];
  let afterId: number | undefined;
  for (;;) {
    const page = await deps.index.find({
      level: 'IMAGE',
      keys,
      returns: [
        'StudyInstanceUID',
        'SeriesInstanceUID',
        'SOPInstanceUID',
        'SOPClassUID',
        'AvailableTransferSyntaxUID',
      ],
      caseInsensitiveNames: false,
      afterId,
      limit: PAGE,
    });
    for (const m of page) {
      found.push({
        imageId: m.id,
        studyUid: m.values.StudyInstanceUID,
        seriesUid: m.values.SeriesInstanceUID,
        sopInstanceUid: m.values.SOPInstanceUID,
        sopClassUid: m.values.SOPClassUID,
        transferSyntaxUid: m.values.AvailableTransferSyntaxUID,
      });
    }
    if (page.length < PAGE) break;
    afterId = page[page.length - 1].id;
  }
  if (!found.length)
    throw new NotFoundError(
      target.instance
        ? `instance ${target.instance}`
        : target.series
          ? `series ${target.series}`
          : `study ${target.study}`,
    );
  return found;
}
