/**
 * Why a call is refused or failed, for any transport: a code of the API contract and words
 * for the caller. Transports map the code to their own status (HTTP: http/errors.ts).
 */
import { ErrorCode } from '../../common/api';
import { EngineFailure } from '../engine/engine';

export class AccessError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string
  ) {
    super(message);
  }
}

/**
 * Input the caller sent that cannot be used as it is (a header, the dataset name in a path,
 * a query parameter, a body): the gateway refuses the call with an `invalid` audit record,
 * once it is authenticated, and for a dataset once it is authorized (a dataset the caller
 * may not see is not found, whatever else the request says). `inDatasetName`: the dataset
 * name itself could not be read, so the request names no dataset and is refused before
 * authorization. `callerFilter`: the caller's filter as written, for the record.
 */
export class InvalidInput extends AccessError {
  constructor(
    code: 'bad_request' | 'invalid_filter',
    message: string,
    readonly detail: { inDatasetName?: boolean; callerFilter?: string } = {}
  ) {
    super(code, message);
  }
}

/** The same answer whether a dataset does not exist or the caller may not see it. */
export function datasetNotFound(name: string): AccessError {
  return new AccessError('not_found', `dataset "${name}" not found`);
}

export function auditUnavailable(): AccessError {
  return new AccessError('audit_unavailable', 'the audit log cannot be written, so no data is released; try again later or tell your Warden operator');
}

/** A source the engine refused to open (config/paths.ts checks at load, engines again at open). */
export function unsafeSource(): AccessError {
  return new AccessError('source_error', 'the source of this dataset cannot be opened safely; tell your Warden operator');
}

/**
 * What a caller is told of an engine failure: a code and words chosen from its kind alone (the
 * one place that decides how engine errors reach callers). The engine's text never does: it
 * may quote values of rows the caller may not see; it goes to the service log and the
 * compliance-only audit fields. With a caller filter, a value problem is most likely the filter's.
 */
export function engineRefusal(failure: EngineFailure, callerFiltered: boolean, requestId: string): AccessError {
  const operator = `tell your Warden operator (request ${requestId})`;
  switch (failure.kind) {
    case 'conversion':
      return callerFiltered
        ? new AccessError('invalid_filter', 'the filter could not be applied: a value could not be converted to the type it is compared with; compare each column with values of its own type (see the column types of the dataset)')
        : new AccessError('source_error', `the rows of this dataset could not be read: a value could not be converted to the type the query needs; ${operator}`);
    case 'arithmetic':
      return callerFiltered
        ? new AccessError('invalid_filter', 'the filter could not be applied: a value is out of range for its type; check the numbers and dates in the filter')
        : new AccessError('source_error', `the rows of this dataset could not be computed: a value is out of range for its type; ${operator}`);
    case 'source':
      return new AccessError('source_error', `the source of this dataset cannot be read as configured; ${operator}`);
    case 'unavailable':
      return new AccessError('engine_unavailable', 'the engine that holds this dataset cannot be reached now; try again later');
    case 'resources':
      return new AccessError('engine_unavailable', 'the engine ran out of resources for this query; try again later, or ask for fewer rows or columns');
    case 'cancelled':
      return new AccessError('engine_unavailable', 'the engine cancelled the query; try again later');
    case 'internal':
      return new AccessError('source_error', `the query failed in the engine; ${operator}`);
  }
}
