/** Writing JSON answers and errors. */
import { ServerResponse } from 'node:http';
import { ApiError } from './errors';

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  response.end(text);
}

/** An error as `{ "error": { "code", "message" } }`; once a stream has started, the connection is cut instead. */
export function sendError(response: ServerResponse, error: ApiError, headers: Record<string, string> = {}): void {
  if (response.headersSent) {
    response.destroy(error);
    return;
  }
  sendJson(response, error.status, { error: { code: error.code, message: error.message } }, headers);
}
