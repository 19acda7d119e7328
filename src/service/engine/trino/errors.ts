/** Trino's errors as Warden's failure kinds: by the error name (or type) of Trino's answer. */
import { EngineFailure, EngineUnavailableError, FailureKind, errorText } from '../engine';
import { TrinoQueryError } from './protocol';

const KIND_BY_NAME: Record<string, FailureKind> = {
  INVALID_CAST_ARGUMENT: 'conversion',
  TYPE_MISMATCH: 'conversion',
  FUNCTION_NOT_FOUND: 'conversion',
  INVALID_LITERAL: 'conversion',
  DIVISION_BY_ZERO: 'arithmetic',
  NUMERIC_VALUE_OUT_OF_RANGE: 'arithmetic',
  TABLE_NOT_FOUND: 'source',
  SCHEMA_NOT_FOUND: 'source',
  CATALOG_NOT_FOUND: 'source',
  COLUMN_NOT_FOUND: 'source',
  PERMISSION_DENIED: 'source',
  USER_CANCELED: 'cancelled',
  NO_NODES_AVAILABLE: 'unavailable',
  SERVER_SHUTTING_DOWN: 'unavailable',
  SERVER_STARTING_UP: 'unavailable'
};

export function diagnoseTrino(error: unknown): EngineFailure {
  const detail = errorText(error);
  if (error instanceof EngineUnavailableError) return { kind: 'unavailable', detail };
  if (error instanceof TrinoQueryError) {
    const kind = KIND_BY_NAME[error.errorName] ?? (error.errorType === 'INSUFFICIENT_RESOURCES' || error.errorName.startsWith('EXCEEDED_') ? 'resources' : 'internal');
    return { kind, detail: `${error.errorName}: ${detail}` };
  }
  return { kind: 'internal', detail };
}
