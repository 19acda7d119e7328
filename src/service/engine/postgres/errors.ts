/** PostgreSQL's errors as Warden's failure kinds: by SQLSTATE, or by the driver's network error code. */
import { EngineFailure, FailureKind, errorText } from '../engine';

/** SQLSTATE codes, then SQLSTATE classes (two characters); others are internal. */
const KIND_BY_STATE: Record<string, FailureKind> = {
  '22P02': 'conversion', // invalid_text_representation
  '22007': 'conversion', // invalid_datetime_format
  '22008': 'conversion', // datetime_field_overflow
  '22018': 'conversion', // invalid_character_value_for_cast
  '42804': 'conversion', // datatype_mismatch
  '42883': 'conversion', // undefined_function: an operator for these types
  '42846': 'conversion', // cannot_coerce
  '42P01': 'source', // undefined_table
  '42703': 'source', // undefined_column
  '42501': 'source', // insufficient_privilege
  '57014': 'cancelled', // query_canceled (also statement_timeout)
  '53300': 'unavailable', // too_many_connections
  '3D000': 'unavailable', // invalid_catalog_name: the database is gone
  '22': 'arithmetic', // data_exception: out of range, division by zero...
  '08': 'unavailable', // connection_exception
  '28': 'unavailable', // invalid_authorization_specification
  '53': 'resources', // insufficient_resources
  '54': 'resources', // program_limit_exceeded
  '57': 'unavailable' // operator_intervention: shutting down, cannot connect now
};

/** Network failures of the driver (Node's error codes). */
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

export function diagnosePostgres(error: unknown): EngineFailure {
  const detail = errorText(error);
  const code = (error as { code?: unknown } | null)?.code;
  let kind: FailureKind = 'internal';
  if (typeof code === 'string' && UNAVAILABLE.has(code)) {
    kind = 'unavailable';
  } else if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    kind = KIND_BY_STATE[code] ?? KIND_BY_STATE[code.slice(0, 2)] ?? 'internal';
  } else if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(detail)) {
    // node-postgres says so in words, without a code.
    kind = 'unavailable';
  }
  return { kind, detail };
}
