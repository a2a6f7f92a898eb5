import type { OperatorDefinition } from '../core/component.js';
import { dropIf } from './drop-if.js';
import { tagFilter } from './tag-filter.js';
import { anonymizeOperator } from './anonymize.js';
import { reverseAnonymize } from './reverse-anonymize.js';

export const operators: OperatorDefinition<any>[] = [dropIf, tagFilter, anonymizeOperator, reverseAnonymize];
