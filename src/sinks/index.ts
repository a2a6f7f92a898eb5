import type { SinkDefinition } from '../core/component.js';
import { index } from './index-sink.js';
import { storage } from './storage.js';
import { classifySeries } from './classify-series.js';
import { forward } from './forward.js';
import { dicomForward } from './dicom-forward.js';

export const sinks: SinkDefinition<any>[] = [storage, index, classifySeries, forward, dicomForward];
