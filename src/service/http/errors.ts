/** API errors: one shape on the wire, `{ "error": { "code", "message" } }`, with the matching status. */
import { ErrorCode } from '../../common/api';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_filter: 400,
  unknown_column: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  source_error: 422,
  audit_unavailable: 503,
  service_unavailable: 502,
  internal: 500
};

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string
  ) {
    super(message);
  }

  get status(): number {
    return STATUS[this.code];
  }
}

/** The same answer whether a dataset does not exist or the caller may not see it. */
export function datasetNotFound(name: string): ApiError {
  return new ApiError('not_found', `dataset "${name}" not found`);
}
