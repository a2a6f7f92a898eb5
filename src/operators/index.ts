import type { OperatorDefinition } from '../core/component.js';
import { dropIf } from './drop-if.js';
import { tagFilter } from './tag-filter.js';

export const operators: OperatorDefinition<any>[] = [dropIf, tagFilter];
