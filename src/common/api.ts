/**
 * The Warden API contract, shared by the enforcement service (Node) and the
 * JupyterLab extension (browser), and the one source of the Python package's
 * `warden/_contract.py`: every exported constant that is plain data (strings,
 * numbers, lists, objects) is written there by `npx tsx scripts/gen-contract.mjs`.
 * Types and plain data only (and pure functions over them): no DOM, no Node APIs.
 *
 * Routes (all JSON unless said; every route but health needs `Authorization: Bearer <token>`):
 *   GET  /api/v1/health                          -> Health (no auth; 503 when unavailable)
 *   GET  /api/v1/whoami                          -> Principal
 *   GET  /api/v1/datasets?q=&tag=&database=      -> CatalogPage
 *   GET  /api/v1/datasets/{name}                 -> DatasetDetail
 *   GET  /api/v1/datasets/{name}/preview?limit=N&orderBy=K -> Arrow IPC stream
 *   POST /api/v1/datasets/{name}/scan            -> Arrow IPC stream, body: ScanRequest
 *   GET  /api/v1/datasets/{name}/count           -> RowCount
 *   GET  /api/v1/datasets/{name}/snippet?flavour=pandas|arrow|polars -> Snippet
 *   GET  /api/v1/events                          -> server-sent events: VIEW_EVENT with ViewVersions
 * Optional request headers: `X-Warden-Client` (ClientKind), `X-Warden-Notebook` (path).
 * Errors: ErrorBody with the matching HTTP status.
 */
import type { MaskSpec } from './masks';

export const API_PREFIX = '/api/v1';
/** Where the Jupyter server extension serves the API: `<base_url>/warden/api/v1/...`. */
export const JUPYTER_SERVER_NAMESPACE = 'warden';
export const ARROW_STREAM_MIME = 'application/vnd.apache.arrow.stream';
export const CLIENT_HEADER = 'x-warden-client';
/** The notebook's path, percent-encoded as UTF-8 (header values are Latin-1). */
export const NOTEBOOK_HEADER = 'x-warden-notebook';
/** On data answers: the request's id in the audit log. */
export const REQUEST_ID_HEADER = 'x-warden-request-id';
/** Every `x-warden-*` answer header is passed on by the Jupyter server's proxy. */
export const RESPONSE_HEADER_PREFIX = 'x-warden-';

/** What a caller may say in `X-Warden-Client`; any other value is recorded as `api`. */
export const CLIENT_KINDS = [
  'preview',
  'python-client',
  'catalog',
  'extension',
  'api'
] as const;

/**
 * Who called, as the audit log records it: what the caller said, or `job` for a job
 * credential (a scheduled notebook run by its owner, HUB_SCOPES.job), which the service sets
 * from the credential and no header can claim.
 */
export type ClientKind = (typeof CLIENT_KINDS)[number] | 'job';

/**
 * Under JupyterHub, the custom scopes of hub API tokens that Warden accepts (the token's owner
 * is the caller): `read` for interactive sessions (the single-user server's own token), `job`
 * for scheduled jobs (a token the user creates, which must expire; audited as client `job`).
 */
export const HUB_SCOPES = {
  read: 'custom:warden:read',
  job: 'custom:warden:job'
} as const;

/** What `{ type: 'redact' }` writes when the policy gives no `value` (declared with the masks). */
export { DEFAULT_REDACTION } from './masks';

export type AttributeValue = string | number | boolean | string[];

export interface Principal {
  user: string;
  groups: string[];
  attributes: Record<string, AttributeValue>;
}

/**
 * Whether the service can serve now (`GET /health`, for load balancers and supervisors):
 * `unavailable` (HTTP 503) when the audit log cannot be written, so no data can be released,
 * or the built-in engine (files, the audit log) cannot run queries; `degraded` (200) when the
 * engine of some connection cannot be reached (its datasets answer engine_unavailable, the
 * others serve). Anyone may ask: the answer holds no counts, names or reasons; the service
 * log says why, at each change.
 */
export const HEALTH_STATUS = {
  ok: 200,
  degraded: 200,
  unavailable: 503
} as const;

export type HealthStatus = keyof typeof HEALTH_STATUS;

export interface Health {
  status: HealthStatus;
  version: string;
  /** Audit records can be written now. */
  audit: 'ok' | 'unavailable';
  /** `unavailable`: the built-in engine fails; `degraded`: some connection's engine does. */
  engines: HealthStatus;
}

/** Every error code the service answers with, and its HTTP status. */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_filter: 400,
  unknown_column: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  source_error: 422,
  internal: 500,
  service_unavailable: 502,
  audit_unavailable: 503,
  /** The service has no room for the read now (heavy queries, stream buffers): try again after Retry-After. */
  overloaded: 503,
  /** The engine behind a dataset cannot run the query now (unreachable, out of resources). */
  engine_unavailable: 503
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * The code an error answer stands for when it has no Warden error body (a
 * proxy's page, the Jupyter server's own refusal): by status, else
 * `bad_request` for any other 4xx and `internal` for the rest.
 */
export const ERROR_CODE_OF_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  502: 'service_unavailable',
  503: 'service_unavailable',
  504: 'service_unavailable'
};

export function errorCodeOfStatus(status: number): ErrorCode {
  return (
    ERROR_CODE_OF_STATUS[status] ??
    (status >= 400 && status < 500 ? 'bad_request' : 'internal')
  );
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** How a mask transforms a value: declared in ./masks.ts, one declaration per mask. */
export type { MaskSpec, MaskType } from './masks';

export type ColumnAccess = 'clear' | 'masked' | 'hidden';

/** Why a column looks the way it does for this principal. */
export interface ColumnEffect {
  access: ColumnAccess;
  /** The winning whole-column mask, when access is masked or hidden. */
  mask?: MaskSpec;
  /** Human words: "last 4 characters shown", "keyed SHA-256 hash". */
  description: string;
  /** The policy that decided it, and the column tag or name that selected it. */
  policy?: string;
  reason?: string;
  /** Masks that apply only to rows where a condition holds. */
  cellMasks: CellMaskEffect[];
}

export interface CellMaskEffect {
  policy: string;
  mask: MaskSpec;
  description: string;
  /** The condition in words, e.g. "arm = 'placebo'". */
  condition: string;
}

export interface DatasetSummary {
  /** `database.table` */
  name: string;
  database: string;
  table: string;
  description: string;
  owner: string;
  tags: string[];
  /** Names of the columns this principal receives (hidden ones left out). */
  columnNames: string[];
  /** Tags of those columns, for search and filtering. */
  columnTags: string[];
}

export interface CatalogPage {
  datasets: DatasetSummary[];
  /** All tags over the datasets this principal may see, for filter chips. */
  tags: string[];
}

export interface ColumnDetail {
  name: string;
  /** The type the principal receives (after masking). */
  type: string;
  sourceType: string;
  description: string;
  tags: string[];
  effect: ColumnEffect;
}

export interface RowFilterInfo {
  policies: string[];
  /** In words, with user attributes resolved: "rows where country = 'US'". */
  description: string;
}

export interface DatasetDetail extends DatasetSummary {
  columns: ColumnDetail[];
  rowFilter: RowFilterInfo | null;
  /** Every policy that shaped this view (grants, filters, masks). */
  policies: string[];
  /**
   * The order of rows when a read names none (the dataset's `order_by`, keys on columns this
   * principal receives), as `orderBy` entries: `["time DESC"]`. Empty: the source's order.
   */
  defaultOrder: string[];
  /**
   * Identifies this principal's view of the dataset (everything above): it changes when a
   * policy, the catalog or the principal's attributes change what they get. Previews carry
   * it too (ARROW_META.viewVersion), and GET /events pushes it for every dataset.
   */
  version: string;
}

/** How many rows of a dataset a principal may see (its row filters applied), counted up to ROW_COUNT_LIMIT. */
export interface RowCount {
  dataset: string;
  /** The rows counted: all of them, or ROW_COUNT_LIMIT when `capped`. */
  rows: number;
  /** There are more than `rows`: counting stopped at the limit, so that a count stays cheap. */
  capped: boolean;
}

export const ROW_COUNT_LIMIT = 1_000_000;

/**
 * What a principal may see, as versions: the data of the `VIEW_EVENT` events of GET /events
 * (server-sent events). One is sent when the stream opens and another whenever it changes.
 */
export interface ViewVersions {
  /** The DatasetDetail.version of every dataset the principal may see, by name. */
  datasets: Record<string, string>;
}

export const VIEW_EVENT = 'views';

/** The body of a scan: its schema and type are one declaration, in ./requests.ts. */
export type { ScanRequest } from './requests';

/** Rows of a preview (`?limit=`): the default, and the most the service sends; schema/plugin.json's setting matches. */
export const PREVIEW_ROWS = { default: 100, max: 10_000 };

export type SnippetFlavour = 'pandas' | 'arrow' | 'polars';
export const SNIPPET_FLAVOURS: readonly SnippetFlavour[] = [
  'pandas',
  'arrow',
  'polars'
];

export interface Snippet {
  dataset: string;
  flavour: SnippetFlavour;
  language: 'python';
  code: string;
}

/** Every Warden key of Arrow metadata starts with this. */
export const ARROW_META_PREFIX = 'warden.';
/** Arrow field / schema metadata keys set on scan and preview results. */
export const ARROW_META = {
  access: 'warden.access',
  mask: 'warden.mask',
  cellMasked: 'warden.cell_masked',
  policies: 'warden.policies',
  rowFilter: 'warden.row_filter',
  requestId: 'warden.request_id',
  /** The principal's view of the dataset the rows come from: DatasetDetail.version. */
  viewVersion: 'warden.view_version',
  /** On an indicator field: the name of the column it describes. */
  indicatorFor: 'warden.indicator_for'
} as const;

/**
 * Which cells a cell mask changed, row by row. A column that cell masks may change (field
 * metadata `warden.cell_masked`) comes with an indicator column: booleans, true where a cell
 * mask replaced that row's value. Indicator fields follow the data columns; each is named
 * MASK_INDICATOR_PREFIX + the column's name and carries `warden.indicator_for` = that name.
 * No dataset column may start with the prefix (the service refuses such a source at
 * start-up). Previews always carry indicators; scans only when the request says
 * `maskIndicators: true`.
 */
export const MASK_INDICATOR_PREFIX = 'warden:masked:';
