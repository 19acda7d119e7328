/**
 * The HTTP transport of the enforcement service: routes a request, authenticates it through
 * the access pipeline (access/gateway.ts), which decides and audits everything, and writes the
 * answer as JSON or an Arrow IPC stream.
 */
import { IncomingMessage, Server, ServerResponse, createServer, maxHeaderSize } from 'node:http';
import { Duplex } from 'node:stream';
import { API_PREFIX, HEALTH_STATUS, Health, REQUEST_ID_HEADER } from '../../common/api';
import { OverloadedError } from '../access/admission';
import { AccessError, InvalidInput } from '../access/errors';
import { Call } from '../access/call';
import { AccessGateway, Authenticated } from '../access/gateway';
import { EventLog } from '../access/log';
import { KEEP_ALIVE_MS, requestArrived } from './connections';
import { ApiError } from './errors';
import { callOf, datasetName, headerValue, malformed } from './request';
import { sendError, sendJson } from './respond';
import { ROUTES } from './routes';

/** What the HTTP transport needs of the service (service.ts). */
export interface HttpService {
  readonly access: AccessGateway;
  /** The service log: every refusal gets a line. */
  readonly events: EventLog;
  health(): Promise<Health>;
}

export function createApiServer(service: HttpService): Server {
  const server = createServer((request, response) => {
    requestArrived(request.socket);
    void handle(service, request, response);
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => refuseUnreadable(service, error, socket));
  return server;
}

/**
 * Bytes that are not an HTTP request (the parser refused them: a control character in a
 * header, headers too large): a JSON answer saying so, and a log line. Nothing is audited:
 * no request was read, so there is no caller and nothing was asked.
 */
function refuseUnreadable(service: HttpService, error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const [status, words] = tooLarge ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
  // In words for the caller; the parser's own name for the fault goes to the service log only.
  const message = tooLarge ? `request headers larger than ${maxHeaderSize / 1024} KB` : 'malformed HTTP request: see RFC 9112 for what a request may contain';
  service.events.info('refused', { code: 'bad_request', status, message, parser: error.code ?? error.message });
  const body = JSON.stringify({ error: { code: 'bad_request', message } });
  socket.end(`HTTP/1.1 ${status} ${words}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** The path and query of a request; a request target that is no URL path is refused. */
function requestUrl(request: IncomingMessage): URL {
  try {
    return new URL(request.url ?? '/', 'http://warden.invalid');
  } catch {
    throw new ApiError('bad_request', 'the request target is not a valid URL path');
  }
}

async function handle(service: HttpService, request: IncomingMessage, response: ServerResponse): Promise<void> {
  let url: URL | undefined;
  let call: Call | undefined;
  let caller: Authenticated | undefined;
  try {
    url = requestUrl(request);
    const path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length) : null;
    // HEAD as well: load balancers' probes often ask so (Node sends no body for HEAD).
    if (path === '/health' && (request.method === 'GET' || request.method === 'HEAD')) {
      const health = await service.health();
      sendJson(response, HEALTH_STATUS[health.status], health);
      return;
    }
    const route = path === null ? undefined : ROUTES.find(candidate => candidate.pattern.test(path));
    if (!route || path === null) {
      throw new ApiError('not_found', `no such endpoint: ${request.method} ${url.pathname} (see the API section of the README)`);
    }
    // From here on the request is for a route: whatever is wrong with it is refused by the
    // gateway, audited, once it is authenticated (access/gateway.ts).
    call = callOf(request);
    // Every answer of a route says its request id, which its audit records carry.
    response.setHeader(REQUEST_ID_HEADER, call.requestId);
    if (request.method !== route.method) malformed(call, new InvalidInput('bad_request', `${url.pathname} takes ${route.method}, not ${request.method}`));
    const match = path.match(route.pattern)!;
    const dataset = match[1] !== undefined ? datasetName(call, match[1]) : null;
    caller = await service.access.authenticate(call, dataset, headerValue(request, 'authorization'));
    await route.handle({ access: service.access, call, principal: caller, dataset: dataset ?? '', url, request, response });
  } catch (error) {
    let refusal: ApiError;
    let retry: Record<string, string> | undefined;
    if (error instanceof ApiError) {
      refusal = error;
    } else if (error instanceof AccessError) {
      refusal = new ApiError(error.code, error.message);
      // A read refused for lack of room says when to try again.
      if (error instanceof OverloadedError) retry = { 'retry-after': String(error.retryAfterSeconds) };
    } else {
      service.events.error('internal_error', { request_id: call?.requestId ?? null, error: (error as Error)?.stack ?? String(error) });
      refusal = new ApiError('internal', 'internal error; the service log has the details');
    }
    // One line per refusal (rate-limited per code); the query string is left out: it may carry credentials.
    const line = {
      code: refusal.code,
      status: refusal.status,
      method: request.method,
      path: url?.pathname ?? null,
      request_id: call?.requestId ?? null,
      user: caller?.principal.user ?? null,
      message: refusal.message,
      // What made a refused read heavy, in the engine's words: for the operator, not the caller.
      ...(error instanceof OverloadedError && error.heavyOperators.length ? { heavy: error.heavyOperators } : {})
    };
    if (refusal.status >= 500) service.events.error('refused', line);
    else service.events.info('refused', line);
    sendError(response, refusal, retry);
  }
}
