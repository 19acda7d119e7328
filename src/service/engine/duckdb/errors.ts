/** DuckDB's errors as Warden's failure kinds, by the error type DuckDB puts first in its message. */
import { EngineFailure, FailureKind, errorText } from '../engine';
import { STREAM_FAILED } from './open-stream';

/** `<Type> Error: ...` -> kind; types not listed are internal. */
const KIND_BY_TYPE: Record<string, FailureKind> = {
  Conversion: 'conversion',
  'Mismatch Type': 'conversion',
  'Invalid Type': 'conversion',
  'Out of Range': 'arithmetic',
  'Invalid Input': 'source',
  IO: 'source',
  Permission: 'source',
  Catalog: 'source',
  'Out of Memory': 'resources',
  INTERRUPT: 'cancelled'
};

/**
 * How DuckDB wraps the error of a streaming result that failed after it started (the native
 * path reads it from the result, native.ts): the cause, with its own type, follows.
 */
const STREAM_WRAPPER = /^Invalid Input Error: Attempting to execute an unsuccessful or closed pending query result\nError: /;

export function diagnoseDuckDB(error: unknown): EngineFailure {
  const detail = errorText(error);
  const type = /^([A-Za-z ]+?) Error: /.exec(detail.replace(STREAM_WRAPPER, ''))?.[1];
  let kind: FailureKind = (type && KIND_BY_TYPE[type]) || 'internal';
  // Binder errors are type mismatches ("Cannot compare values of type VARCHAR and type DATE",
  // "No function matches ... argument types") or names not found, which compiled queries never have.
  if (type === 'Binder' && /type/i.test(detail)) kind = 'conversion';
  // Without DuckDB's words, the likeliest: what the source holds cannot be read as its schema says.
  if (detail === STREAM_FAILED) kind = 'source';
  return { kind, detail };
}
