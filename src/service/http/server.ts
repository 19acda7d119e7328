/**
 * HTTP API of the enforcement service (routes in ../../common/api.ts). Every request that
 * touches data or metadata is audited before anything is released; if the audit record
 * cannot be written, the request fails (fail closed).
 */
import { randomUUID } from 'node:crypto';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { AsyncByteQueue, RecordBatch, RecordBatchStreamWriter } from 'apache-arrow';
import {
  API_PREFIX,
  ARROW_META,
  ARROW_STREAM_MIME,
  CLIENT_HEADER,
  CLIENT_KINDS,
  ClientKind,
  Health,
  NOTEBOOK_HEADER,
  Principal,
  SNIPPET_FLAVOURS,
  ScanRequest,
  SnippetFlavour
} from '../../common/api';
import { AuditUnavailableError } from '../audit/log';
import { AuditAction, AuditOutcome, AuditRecord } from '../audit/record';
import { CatalogDataset } from '../catalog/catalog';
import { PlanError, ScanPlan } from '../engine/compile';
import { AuthenticationError } from '../identity/verify';
import { readsUser } from '../policy/ast';
import { Decision } from '../policy/decide';
import { ExpressionError, parseExpression } from '../policy/parse';
import { WardenService, rowFilterInfo } from '../service';
import { snippetFor } from '../snippet';
import { ApiError, datasetNotFound } from './errors';

export const VERSION = '0.1.0';
const MAX_BODY_BYTES = 64 * 1024;
const MAX_PREVIEW_ROWS = 10_000;

/** What is known about a request, for its audit records. */
interface RequestContext {
  requestId: string;
  client: ClientKind;
  notebook: string | null;
  principal?: Principal;
  action: AuditAction;
  dataset: string | null;
}

type Handler = (service: WardenService, context: RequestContext, request: IncomingMessage, response: ServerResponse, url: URL, match: RegExpMatchArray) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  action: AuditAction;
  handler: Handler;
}

const DATASET = '([^/]+)';

const ROUTES: Route[] = [
  { method: 'GET', pattern: /^\/whoami$/, action: 'whoami', handler: whoami },
  { method: 'GET', pattern: /^\/datasets$/, action: 'catalog', handler: listDatasets },
  { method: 'GET', pattern: new RegExp(`^/datasets/${DATASET}$`), action: 'describe', handler: describeDataset },
  { method: 'GET', pattern: new RegExp(`^/datasets/${DATASET}/preview$`), action: 'preview', handler: preview },
  { method: 'POST', pattern: new RegExp(`^/datasets/${DATASET}/scan$`), action: 'scan', handler: scan },
  { method: 'GET', pattern: new RegExp(`^/datasets/${DATASET}/snippet$`), action: 'snippet', handler: snippet }
];

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  response.end(text);
}

function sendError(response: ServerResponse, error: ApiError): void {
  if (response.headersSent) {
    response.destroy(error);
    return;
  }
  sendJson(response, error.status, { error: { code: error.code, message: error.message } });
}

function auditRecord(context: RequestContext, outcome: AuditOutcome, details: Partial<AuditRecord> = {}): AuditRecord {
  return {
    time: new Date().toISOString(),
    request_id: context.requestId,
    event: 'access',
    user_name: context.principal?.user ?? null,
    groups: context.principal ? context.principal.groups.join(', ') : null,
    client: context.client,
    notebook: context.notebook,
    action: context.action,
    dataset: context.dataset,
    columns: null,
    policies: null,
    row_filter: null,
    caller_filter: null,
    outcome,
    reason: null,
    rows: null,
    bytes: null,
    ...details
  };
}

async function audit(service: WardenService, record: AuditRecord): Promise<void> {
  try {
    await service.audit.write(record);
  } catch (error) {
    if (error instanceof AuditUnavailableError) {
      throw new ApiError('audit_unavailable', 'the audit log cannot be written, so no data is released; try again later or tell your Warden operator');
    }
    throw error;
  }
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function contextOf(request: IncomingMessage, action: AuditAction, dataset: string | null): RequestContext {
  const client = headerValue(request, CLIENT_HEADER) as ClientKind | undefined;
  const notebook = headerValue(request, NOTEBOOK_HEADER);
  return {
    requestId: randomUUID(),
    client: client && CLIENT_KINDS.includes(client) ? client : 'api',
    notebook: notebook ? decodeURIComponent(notebook).slice(0, 1024) : null,
    action,
    dataset
  };
}

function datasetName(match: RegExpMatchArray): string {
  try {
    return decodeURIComponent(match[1]);
  } catch {
    throw new ApiError('bad_request', 'dataset name in the URL is not valid percent-encoding');
  }
}

/** The dataset the principal may see, or a not-found answer (audited as what really happened). */
async function authorize(service: WardenService, context: RequestContext): Promise<{ dataset: CatalogDataset; decision: Decision }> {
  const { dataset, decision } = service.access(context.principal!, context.dataset!);
  if (!dataset || !decision?.allowed) {
    await audit(service, auditRecord(context, dataset ? 'denied' : 'not_found', { reason: decision?.denial ?? 'no such dataset' }));
    throw datasetNotFound(context.dataset!);
  }
  return { dataset, decision };
}

async function whoami(service: WardenService, context: RequestContext, _request: IncomingMessage, response: ServerResponse): Promise<void> {
  await audit(service, auditRecord(context, 'allowed'));
  sendJson(response, 200, context.principal);
}

async function listDatasets(service: WardenService, context: RequestContext, _request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
  const query = {
    q: url.searchParams.get('q') ?? undefined,
    tag: url.searchParams.get('tag') ?? undefined,
    database: url.searchParams.get('database') ?? undefined
  };
  const page = service.catalog.search(context.principal!, service.config.policies, query);
  await audit(service, auditRecord(context, 'allowed', { caller_filter: query.q ?? null, rows: page.datasets.length }));
  sendJson(response, 200, page);
}

async function describeDataset(service: WardenService, context: RequestContext, _request: IncomingMessage, response: ServerResponse): Promise<void> {
  const { dataset, decision } = await authorize(service, context);
  const detail = service.detail(dataset, decision);
  await audit(service, auditRecord(context, 'allowed', { policies: decision.policies.join(', '), row_filter: detail.rowFilter?.description ?? null }));
  sendJson(response, 200, detail);
}

async function snippet(service: WardenService, context: RequestContext, _request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
  const flavour = (url.searchParams.get('flavour') ?? 'pandas') as SnippetFlavour;
  if (!SNIPPET_FLAVOURS.includes(flavour)) {
    throw new ApiError('bad_request', `flavour must be one of ${SNIPPET_FLAVOURS.join(', ')}`);
  }
  await authorize(service, context);
  await audit(service, auditRecord(context, 'allowed'));
  sendJson(response, 200, snippetFor(context.dataset!, flavour));
}

async function preview(service: WardenService, context: RequestContext, _request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
  const limitText = url.searchParams.get('limit') ?? '100';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_PREVIEW_ROWS) {
    throw new ApiError('bad_request', `limit must be a whole number from 0 to ${MAX_PREVIEW_ROWS}, got "${limitText}"`);
  }
  await streamScan(service, context, response, { limit }, null);
}

async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError('bad_request', `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError('bad_request', `request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Validates a scan request body into a plan; every mistake named precisely. */
export function scanPlanOf(body: unknown): { plan: ScanPlan; filterText: string | null } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('bad_request', 'scan body must be a JSON object like {"columns": [...], "filter": "...", "limit": 100}');
  }
  const request = body as ScanRequest & Record<string, unknown>;
  const unknown = Object.keys(request).filter(key => !['columns', 'filter', 'orderBy', 'limit'].includes(key));
  if (unknown.length) {
    throw new ApiError('bad_request', `unknown key${unknown.length > 1 ? 's' : ''} in scan body: ${unknown.join(', ')} (allowed: columns, filter, orderBy, limit)`);
  }
  const plan: ScanPlan = {};
  if (request.columns !== undefined && request.columns !== null) {
    if (!Array.isArray(request.columns) || !request.columns.every(column => typeof column === 'string')) {
      throw new ApiError('bad_request', 'columns must be a list of column names');
    }
    plan.columns = [...new Set(request.columns)];
  }
  if (request.limit !== undefined && request.limit !== null) {
    if (!Number.isSafeInteger(request.limit) || request.limit < 0) {
      throw new ApiError('bad_request', 'limit must be a whole number >= 0');
    }
    plan.limit = request.limit;
  }
  if (request.orderBy !== undefined && request.orderBy !== null) {
    if (!Array.isArray(request.orderBy)) throw new ApiError('bad_request', 'orderBy must be a list like ["age DESC", "site"]');
    plan.orderBy = request.orderBy.map(key => {
      const match = typeof key === 'string' ? /^\s*(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_]*))(?:\s+(ASC|DESC))?\s*$/i.exec(key) : null;
      if (!match) throw new ApiError('bad_request', `orderBy entry ${JSON.stringify(key)} must be a column name, optionally followed by ASC or DESC`);
      return { column: match[1] ? match[1].replace(/""/g, '"') : match[2], descending: match[3]?.toUpperCase() === 'DESC' };
    });
  }
  let filterText: string | null = null;
  if (request.filter !== undefined && request.filter !== null && request.filter !== '') {
    if (typeof request.filter !== 'string') throw new ApiError('bad_request', 'filter must be text in the Warden expression language');
    filterText = request.filter;
    try {
      plan.filter = parseExpression(request.filter);
    } catch (error) {
      if (error instanceof ExpressionError) throw new ApiError('invalid_filter', `invalid filter: ${error.message}`);
      throw error;
    }
    if (readsUser(plan.filter)) {
      throw new ApiError('invalid_filter', 'invalid filter: user.* attributes can only be used in policies');
    }
  }
  return { plan, filterText };
}

async function scan(service: WardenService, context: RequestContext, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readJsonBody(request);
  let parsed;
  try {
    parsed = scanPlanOf(body);
  } catch (error) {
    // A malformed request for a dataset the caller cannot see must still look like not-found.
    await authorize(service, context);
    throw error;
  }
  await streamScan(service, context, response, parsed.plan, parsed.filterText);
}

/** The first line of an engine error: enough to fix the request, nothing of the query text. */
function engineMessage(error: unknown): string {
  return String((error as Error).message ?? error).split('\n')[0];
}

/** Collects what a RecordBatchStreamWriter writes, for the caller to take synchronously. */
class IpcPieces extends AsyncByteQueue {
  private pieces: Uint8Array[] = [];

  override write(value: Uint8Array): void {
    this.pieces.push(value);
  }

  take(): Uint8Array[] {
    const pieces = this.pieces;
    this.pieces = [];
    return pieces;
  }
}

/** Resolves when the response can take more, or is closed (a client gone never drains). */
function drainedOrClosed(response: ServerResponse): Promise<void> {
  return new Promise(resolve => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

async function streamScan(
  service: WardenService,
  context: RequestContext,
  response: ServerResponse,
  plan: ScanPlan,
  filterText: string | null
): Promise<void> {
  const { dataset, decision } = await authorize(service, context);
  const rowFilter = rowFilterInfo(decision)?.description ?? null;
  const details: Partial<AuditRecord> = { policies: decision.policies.join(', '), row_filter: rowFilter, caller_filter: filterText };
  let compiled;
  try {
    compiled = service.compile(dataset, decision, plan);
  } catch (error) {
    if (!(error instanceof PlanError)) throw error;
    await audit(service, auditRecord(context, 'invalid', { ...details, reason: error.message }));
    throw new ApiError(error.code, error.message);
  }
  const metadata = new Map<string, string>([
    [ARROW_META.policies, JSON.stringify(decision.policies)],
    [ARROW_META.requestId, context.requestId]
  ]);
  if (rowFilter) metadata.set(ARROW_META.rowFilter, rowFilter);

  // Run the query up to its first batch before answering, so that errors in the caller's
  // filter (a type mismatch, say) come back as a clean 400 rather than a cut stream.
  let result;
  let batches: AsyncIterator<RecordBatch>;
  let first: IteratorResult<RecordBatch>;
  try {
    result = await dataset.engine.stream(compiled, metadata);
    batches = result.batches[Symbol.asyncIterator]();
    first = await batches.next();
  } catch (error) {
    result?.cancel();
    const message = engineMessage(error);
    await audit(service, auditRecord(context, 'invalid', { ...details, reason: message }));
    throw new ApiError(filterText ? 'invalid_filter' : 'source_error', `the query could not run: ${message}`);
  }

  const columns = compiled.columns.map(column => column.name).join(', ');
  try {
    await audit(service, auditRecord(context, 'allowed', { ...details, columns }));
  } catch (error) {
    result.cancel();
    await batches.return?.();
    throw error;
  }

  let rows = 0;
  let bytes = 0;
  let aborted = false;
  response.on('close', () => {
    if (!response.writableFinished) {
      aborted = true;
      result.cancel();
    }
  });
  response.writeHead(200, { 'content-type': ARROW_STREAM_MIME, 'cache-control': 'no-store', 'x-warden-request-id': context.requestId });

  // The writer serialises each batch into `sink` synchronously; `send` hands those pieces to
  // the socket in one corked write. The next batch is produced only once the client has taken
  // this one (backpressure per batch), so memory stays bounded however slowly the client reads.
  const sink = new IpcPieces();
  const writer = new RecordBatchStreamWriter();
  const send = (): boolean => {
    const pieces = sink.take();
    if (aborted || pieces.length === 0) return true;
    response.cork();
    for (const piece of pieces) {
      bytes += piece.byteLength;
      response.write(piece);
    }
    response.uncork();
    return !response.writableNeedDrain;
  };
  let failure: unknown;
  try {
    writer.reset(sink, result.schema);
    send();
    for (let next = first; !next.done && !aborted; next = await batches.next()) {
      rows += next.value.numRows;
      writer.write(next.value);
      if (!send()) await drainedOrClosed(response);
    }
  } catch (error) {
    failure = error;
  } finally {
    await batches.return?.();
    // The end-of-stream marker goes out only after every batch: a stream cut short by an
    // error must not look complete to the client.
    writer.close();
    if (failure === undefined && !aborted) send();
  }
  const complete = !aborted && failure === undefined;
  if (complete) {
    response.end();
  } else {
    response.destroy();
  }
  await service.audit
    .write({
      ...auditRecord(context, complete ? 'completed' : 'aborted', { ...details, columns, rows, bytes }),
      event: 'complete',
      reason: failure ? engineMessage(failure) : aborted ? 'client disconnected' : null
    })
    .catch(error => console.error(`warden: could not write completion record for ${context.requestId}: ${(error as Error).message}`));
}

export function createApiServer(service: WardenService): Server {
  return createServer((request, response) => {
    void handle(service, request, response);
  });
}

async function handle(service: WardenService, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://warden.invalid');
  const path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length) : null;
  try {
    if (path === '/health' && request.method === 'GET') {
      const health: Health = { status: 'ok', version: VERSION, datasets: service.catalog.size, policies: service.config.policies.length };
      sendJson(response, 200, health);
      return;
    }
    const route = path === null ? undefined : ROUTES.find(candidate => candidate.pattern.test(path));
    if (!route || path === null) {
      throw new ApiError('not_found', `no such endpoint: ${request.method} ${url.pathname} (see the API section of the README)`);
    }
    if (request.method !== route.method) {
      throw new ApiError('bad_request', `${url.pathname} takes ${route.method}, not ${request.method}`);
    }
    const match = path.match(route.pattern)!;
    const context = contextOf(request, route.action, match[1] !== undefined ? datasetName(match) : null);
    try {
      context.principal = await service.authenticate(headerValue(request, 'authorization'));
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      await audit(service, auditRecord({ ...context, action: 'authenticate' }, 'unauthenticated', { reason: error.message }));
      throw new ApiError('unauthenticated', error.message);
    }
    await route.handler(service, context, request, response, url, match);
  } catch (error) {
    if (error instanceof ApiError) {
      sendError(response, error);
    } else {
      console.error('warden: internal error', error);
      sendError(response, new ApiError('internal', 'internal error; the service log has the details'));
    }
  }
}
