/**
 * The one way a value enters the ClickHouse index's SQL. ClickHouse 18.16 (Debian's) has no query
 * parameters, so every value a client or a DICOM file brings is written as a literal by these functions and
 * by nothing else; identifiers come only from the fixed table specs (never from a caller).
 *
 * Strings: single-quoted; backslash, quote and every control byte escaped (`\\`, `\'`, `\xHH`), so a NUL,
 * newline or tab can neither end the literal nor the statement. JavaScript strings may hold lone surrogates,
 * which UTF-8 cannot carry: they become U+FFFD, the same replacement every write and read of the index makes,
 * so a value written and a value looked up stay equal. Numbers: finite integers only.
 */

/** Thrown for a value that cannot be written as the literal asked for (a bug or a hostile caller). */
export class LiteralError extends Error {}

const CONTROL = /[\u0000-\u001f\u007f\\']/g;

const escapeChar = (ch: string): string => {
  if (ch === '\\') return '\\\\';
  if (ch === "'") return "\\'";
  return `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
};

/** The text as the index stores it: well-formed UTF-16 (lone surrogates replaced), hence valid UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export const wellFormed = (text: string): string => text.replace(LONE_SURROGATE, '\uFFFD');

/** A ClickHouse string literal for any JavaScript string. */
export function str(value: string): string {
  if (typeof value !== 'string') throw new LiteralError(`Expected a string, got ${typeof value}`);
  return `'${wellFormed(value).replace(CONTROL, escapeChar)}'`;
}

/** A ClickHouse integer literal; rejects what is not a safe integer (NaN, Infinity, 1.5, 2^60). */
export function int(value: number): string {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new LiteralError(`Expected a safe integer, got ${String(value)}`);
  return String(value);
}

/** A parenthesised list of string literals, for `IN`; an empty list is a caller's bug (`IN ()` is no SQL). */
export function strList(values: readonly string[]): string {
  if (!values.length) throw new LiteralError('An IN list needs at least one value');
  return `(${values.map(str).join(', ')})`;
}

/** A parenthesised list of integer literals, for `IN`; never empty. */
export function intList(values: readonly number[]): string {
  if (!values.length) throw new LiteralError('An IN list needs at least one value');
  return `(${values.map(int).join(', ')})`;
}
