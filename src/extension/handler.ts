import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  API_PREFIX,
  CLIENT_HEADER,
  JUPYTER_SERVER_NAMESPACE,
  NOTEBOOK_HEADER,
  errorCodeOfStatus,
  type ClientKind,
  type ErrorCode
} from '../common/api';

/** Service error codes, plus the Jupyter server being unreachable. */
export type WardenErrorCode = ErrorCode | 'network_error';

/** A failed Warden request, carrying the service's error code and message. */
export class WardenRequestError extends Error {
  constructor(
    readonly code: WardenErrorCode,
    message: string,
    readonly status: number = 0
  ) {
    super(message);
    this.name = 'WardenRequestError';
  }
}

export interface IRequestOptions {
  method?: string;
  body?: string;
  /** Recorded by the audit log as the calling client. */
  client?: ClientKind;
  /** Path of the notebook the request is made for, when known. */
  notebookPath?: string | null;
  /** Query parameters; a list gives the parameter once per item. */
  query?: Record<string, string | number | readonly string[] | undefined>;
  responseType?: 'json' | 'arraybuffer' | 'stream';
  /** Aborts the request (and a body still streaming in). */
  signal?: AbortSignal;
  serverSettings?: ServerConnection.ISettings;
}

/**
 * Call a route of the Warden server extension (`<baseUrl>/warden/api/v1/<route>`).
 *
 * Resolves to the parsed JSON body, or to the raw bytes with
 * `responseType: 'arraybuffer'`. Rejects with a `WardenRequestError`.
 */
export function requestAPI<T>(
  route: string,
  options?: IRequestOptions & { responseType?: 'json' }
): Promise<T>;
export function requestAPI(
  route: string,
  options: IRequestOptions & { responseType: 'arraybuffer' }
): Promise<ArrayBuffer>;
export function requestAPI(
  route: string,
  options: IRequestOptions & { responseType: 'stream' }
): Promise<ReadableStream<Uint8Array>>;
export async function requestAPI<T>(
  route: string,
  options: IRequestOptions = {}
): Promise<T | ArrayBuffer | ReadableStream<Uint8Array>> {
  const settings = options.serverSettings ?? ServerConnection.makeSettings();
  const url =
    URLExt.join(settings.baseUrl, JUPYTER_SERVER_NAMESPACE, API_PREFIX, route) +
    queryString(options.query);

  const headers: Record<string, string> = {
    [CLIENT_HEADER]: options.client ?? 'extension'
  };
  if (options.notebookPath) {
    headers[NOTEBOOK_HEADER] = encodeNotebookHeader(options.notebookPath);
  }
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
  }
  const init: RequestInit = {
    method: options.method ?? 'GET',
    headers,
    body: options.body,
    signal: options.signal
  };

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    if (options.signal?.aborted) {
      throw error;
    }
    throw new WardenRequestError(
      'network_error',
      `Could not reach the Jupyter server: ${(error as Error).message}`
    );
  }

  if (!response.ok) {
    throw await errorFromResponse(response);
  }
  if (options.responseType === 'arraybuffer') {
    return response.arrayBuffer();
  }
  if (options.responseType === 'stream') {
    if (!response.body) {
      throw new WardenRequestError(
        'internal',
        'The browser gave no readable body for a stream.',
        response.status
      );
    }
    return response.body;
  }
  const text = await response.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new WardenRequestError(
      'internal',
      `The Warden server extension sent a response that is not JSON (HTTP ${response.status}).`,
      response.status
    );
  }
}

/**
 * Turn a failed response into a typed error. Warden answers with
 * `{ "error": { code, message } }`; anything else (a proxy page, a Jupyter
 * 404 because the server extension is missing) gets a code from the status.
 */
export async function errorFromResponse(
  response: Response
): Promise<WardenRequestError> {
  const status = response.status;
  let text = '';
  try {
    text = await response.text();
  } catch {
    // The body is unreadable; the status alone has to do.
  }
  const body = parseErrorBody(text);
  if (body) {
    return new WardenRequestError(body.code, body.message, status);
  }
  const code = errorCodeOfStatus(status);
  const message =
    status === 404
      ? `The Warden server extension did not answer (HTTP 404). Is it installed and enabled?`
      : `The Warden request failed: HTTP ${status} ${response.statusText}`.trim();
  return new WardenRequestError(code, message, status);
}

function parseErrorBody(
  text: string
): { code: WardenErrorCode; message: string } | null {
  try {
    const parsed = JSON.parse(text);
    const error = parsed?.error;
    if (
      error &&
      typeof error.code === 'string' &&
      typeof error.message === 'string'
    ) {
      return { code: error.code, message: error.message };
    }
  } catch {
    // Not JSON: handled by the caller.
  }
  return null;
}

function queryString(query: IRequestOptions['query']): string {
  if (!query) {
    return '';
  }
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    for (const item of typeof value === 'object' ? value : [value]) {
      if (item !== undefined && item !== '') {
        params.append(key, String(item));
      }
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/**
 * HTTP header values must be Latin-1, notebook paths need not be: the path is
 * sent percent-encoded as UTF-8 (`/` kept), to be read with `unquote`.
 */
export function encodeNotebookHeader(path: string): string {
  return encodeURI(path);
}

/** The route of a dataset, with its name as one escaped path segment. */
export function datasetRoute(name: string, ...rest: string[]): string {
  return ['datasets', encodeURIComponent(name), ...rest].join('/');
}

/** One line for the user: the message, with the service's code when known. */
export function describeError(error: Error): string {
  return error instanceof WardenRequestError
    ? `${error.message} (${error.code})`
    : error.message;
}
