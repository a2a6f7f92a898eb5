import type { SourceDefinition } from '../core/component.js';
import { dicomScp } from './dicom-scp/index.js';
import { httpUpload } from './http-upload.js';
import { watchFolder } from './watch-folder.js';
import { managedSources } from './managed-sources.js';
import { boxIncoming } from './box-incoming.js';

export const sources: SourceDefinition<any>[] = [
  dicomScp,
  watchFolder,
  httpUpload,
  managedSources,
  boxIncoming,
];
