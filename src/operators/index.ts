import type { OperatorDefinition } from '../core/component.js';
import { dropIf } from './drop-if.js';

export const operators: OperatorDefinition<any>[] = [dropIf];
