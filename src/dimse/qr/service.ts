/**
 * Query/Retrieve as a service of the engine: the index and stored files it answers from, where C-MOVE
 * destinations lead (the SCUs of `/api/scus`), and who may ask. Each SCP that offers Q/R gets a provider
 * (`forScp`) for its connections.
 *
 * Access: the calling AE titles an SCP's `query_retrieve_ae_titles` lists ('*' for any); without a list,
 * any caller on an SCP bound to a loopback address, and on one bound beyond it only the AE titles of the
 * SCUs, peers this installation already knows. Others have their Q/R presentation contexts rejected.
 */
import type { BlobStore } from '../../storage/blob-store.js';
import type { MetadataIndex } from '../../storage/metadata-index.js';
import type { DicomPeer } from '../../forwarding/scus.js';
import type { RoleSelection } from '../pdu.js';
import type { Decompress } from '../scu/stored-files.js';
import { IDENTIFIER_SYNTAXES } from './identifier.js';
import { QR_SOP_CLASSES } from './sop-classes.js';
import { QrAssociation, type QueryRetrieveProvider } from './session.js';

export interface QueryRetrieveServices {
  index: MetadataIndex;
  blobs: BlobStore;
  /** The C-MOVE destination with this AE title (an SCU), or undefined. */
  destination(aeTitle: string): Promise<DicomPeer | undefined>;
  /** Decompresses a stored file for a peer that refuses its syntax (the render pool's worker threads). */
  decompress: Decompress;
  /** Person names match regardless of case (SLUICE_QR_CASE_SENSITIVE_NAMES=false, the default). */
  caseInsensitiveNames: boolean;
}

export interface ScpQueryRetrieveOptions {
  /** Our AE title on that SCP. */
  ourAe: string;
  /** The address the SCP binds. */
  host: string;
  /** Calling AE titles allowed to query and retrieve; see the module comment for the default. */
  allowedAeTitles?: readonly string[];
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export class QueryRetrieveService {
  constructor(readonly services: QueryRetrieveServices) {}

  forScp(options: ScpQueryRetrieveOptions): QueryRetrieveProvider {
    const allows = (callingAe: string): boolean | Promise<boolean> => {
      const ae = callingAe.trim();
      if (options.allowedAeTitles) return options.allowedAeTitles.some((a) => a === '*' || a.trim() === ae);
      if (isLoopback(options.host)) return true;
      return this.services.destination(ae).then((peer) => peer !== undefined);
    };
    return {
      isQueryRetrieve: (uid) => QR_SOP_CLASSES.has(uid),
      allows,
      transferSyntaxes: IDENTIFIER_SYNTAXES,
      answerRoles: (proposed: readonly RoleSelection[], accepted: ReadonlySet<string>) =>
        proposed.filter((r) => accepted.has(r.abstractSyntax) && !QR_SOP_CLASSES.has(r.abstractSyntax)),
      open: (channel) => new QrAssociation(channel, this.services, options.ourAe),
    };
  }
}
