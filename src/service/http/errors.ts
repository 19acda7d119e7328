/** API errors: one shape on the wire, `{ "error": { "code", "message" } }`, with the matching status. */
import { ERROR_STATUS, ErrorCode } from '../../common/api';

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

