/**
 * Every component the engine knows, keyed by `type`: the one list a new source, operator or sink is added to.
 * Sources bring instances in, operators change or drop them, sinks make them durable, indexed and forwarded.
 */
import { Registry } from './pipeline/registry.js';
import { dicomScp } from './sources/dicom-scp.js';
import { watchFolder } from './sources/watch-folder.js';
import { httpUpload } from './sources/http-upload.js';
import { managedSources } from './sources/managed-sources.js';
import { boxIncoming } from './sources/box-incoming.js';
import { dropIf } from './operators/drop-if.js';
import { tagFilter } from './operators/tag-filter.js';
import { anonymizeOperator } from './operators/anonymize.js';
import { reverseAnonymize } from './operators/reverse-anonymize.js';
import { storage } from './sinks/storage.js';
import { index } from './sinks/index-sink.js';
import { classifySeries } from './sinks/classify-series.js';
import { forward } from './sinks/forward.js';
import { dicomForward } from './sinks/dicom-forward.js';

export const registry = new Registry([
  dicomScp,
  watchFolder,
  httpUpload,
  managedSources,
  boxIncoming,
  dropIf,
  tagFilter,
  anonymizeOperator,
  reverseAnonymize,
  storage,
  index,
  classifySeries,
  forward,
  dicomForward,
]);
