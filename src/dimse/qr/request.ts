/**
 * What a Q/R request asks, from its identifier and its SOP class's information model (PS3.4 C.4.1.2,
 * C.6.1, C.6.2): the level, the keys to match and the attributes to return. Identifiers that do not fit the
 * model fail with 0xA900 and values that cannot be matched with 0xC000, both naming the offending element.
 */
import { InvalidDicomError } from '../../errors.js';
import {
  depthOf,
  findAttributeByTag,
  FIND_LEVELS,
  matcherOf,
  QueryError,
  type FindKey,
  type FindLevel,
} from '../../storage/find-query.js';
import { QrStatus } from './messages.js';
import {
  parseIdentifier,
  QUERY_RETRIEVE_LEVEL,
  SPECIFIC_CHARACTER_SET,
  type IdentifierElement,
} from './identifier.js';
import type { InformationModel } from './sop-classes.js';

/** A request that cannot be served as asked: the failure status, a reason, the elements at fault. */
export class QrRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly offending: number[] = [],
  ) {
    super(message);
    this.name = 'QrRequestError';
  }
}

export interface QrRequest {
  level: FindLevel;
  keys: FindKey[];
  /** The identifier's elements, as asked (a C-FIND answers each of them). */
  elements: IdentifierElement[];
  /** A key with a value was not one we can match (answered with 0xFF01 pending statuses). */
  unsupportedKeys: boolean;
}

const tagName = (tag: number) =>
  `(${(tag >>> 16).toString(16).padStart(4, '0')},${(tag & 0xffff).toString(16).padStart(4, '0')})`;

/** Reads and checks a request's identifier against the information model. */
export function qrRequest(identifier: Buffer, transferSyntaxUid: string, model: InformationModel): QrRequest {
  let elements: IdentifierElement[];
  try {
    elements = parseIdentifier(identifier, transferSyntaxUid).elements;
  } catch (err) {
    if (err instanceof InvalidDicomError)
      throw new QrRequestError(
        QrStatus.IdentifierDoesNotMatchSopClass,
        `identifier unreadable: ${err.message}`,
      );
    throw err;
  }
  const levelElement = elements.find((e) => e.tag === QUERY_RETRIEVE_LEVEL);
  if (!levelElement || !levelElement.text)
    throw new QrRequestError(
      QrStatus.IdentifierDoesNotMatchSopClass,
      'QueryRetrieveLevel (0008,0052) missing',
      [QUERY_RETRIEVE_LEVEL],
    );
  const level = levelElement.text.trim().toUpperCase() as FindLevel;
  if (!FIND_LEVELS.includes(level) || (model === 'STUDY' && level === 'PATIENT'))
    throw new QrRequestError(
      QrStatus.IdentifierDoesNotMatchSopClass,
      `QueryRetrieveLevel ${levelElement.text.slice(0, 16)} not in the ${model === 'STUDY' ? 'Study' : 'Patient'} Root model`,
      [QUERY_RETRIEVE_LEVEL],
    );
  const keys: FindKey[] = [];
  let unsupportedKeys = false;
  for (const e of elements) {
    if (e.tag === QUERY_RETRIEVE_LEVEL || e.tag === SPECIFIC_CHARACTER_SET) continue;
    const attribute = findAttributeByTag(e.tag);
    const hasValue = e.isSequence ? e.itemKeys : e.text !== '' && e.text !== '*';
    if (!attribute || e.isSequence) {
      // Keys we cannot match, sequences among them (the index holds no items), are matched universally
      // and answered empty (C.2.2.1, C.2.2.2.6); one that carried a value is owned up to with 0xFF01.
      if (hasValue) unsupportedKeys = true;
      continue;
    }
    if (depthOf(attribute.level) > depthOf(level)) {
      if (hasValue)
        throw new QrRequestError(
          QrStatus.IdentifierDoesNotMatchSopClass,
          `${attribute.keyword} is a ${attribute.level} key, below level ${level}`,
          [e.tag],
        );
      continue;
    }
    try {
      const matcher = matcherOf(attribute, e.text);
      if (matcher) keys.push({ keyword: attribute.keyword, matcher });
    } catch (err) {
      if (err instanceof QueryError)
        throw new QrRequestError(QrStatus.UnableToProcess, `${tagName(e.tag)} ${err.message}`, [e.tag]);
      throw err;
    }
  }
  return { level, keys, elements, unsupportedKeys };
}
