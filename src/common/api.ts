/**
 * The Warden API contract, shared by the enforcement service (Node) and the
 * JupyterLab extension (browser). Types only: no DOM, no Node APIs.
 *
 * Routes (all JSON unless said; every route but health needs `Authorization: Bearer <jwt>`):
 *   GET  /api/v1/health                          -> Health (no auth)
 *   GET  /api/v1/whoami                          -> Principal
 *   GET  /api/v1/datasets?q=&tag=&database=      -> CatalogPage
 *   GET  /api/v1/datasets/{name}                 -> DatasetDetail
 *   GET  /api/v1/datasets/{name}/preview?limit=N -> Arrow IPC stream
 *   POST /api/v1/datasets/{name}/scan            -> Arrow IPC stream, body: ScanRequest
 *   GET  /api/v1/datasets/{name}/snippet?flavour=pandas|arrow|polars -> Snippet
 * Optional request headers: `X-Warden-Client` (ClientKind), `X-Warden-Notebook` (path).
 * Errors: ErrorBody with the matching HTTP status.
 */

export const API_PREFIX = '/api/v1';
export const ARROW_STREAM_MIME = 'application/vnd.apache.arrow.stream';
export const CLIENT_HEADER = 'x-warden-client';
export const NOTEBOOK_HEADER = 'x-warden-notebook';

/** Who called: recorded in the audit log. */
export type ClientKind =
  | 'preview'
  | 'python-client'
  | 'catalog'
  | 'extension'
  | 'api';

export const CLIENT_KINDS: readonly ClientKind[] = [
  'preview',
  'python-client',
  'catalog',
  'extension',
  'api'
];

export type AttributeValue = string | number | boolean | string[];

export interface Principal {
  user: string;
  groups: string[];
  attributes: Record<string, AttributeValue>;
}

export interface Health {
  status: 'ok';
  version: string;
  datasets: number;
  policies: number;
}

export type ErrorCode =
  | 'bad_request'
  | 'unauthenticated'
  | 'not_found'
  | 'forbidden'
  | 'invalid_filter'
  | 'unknown_column'
  | 'audit_unavailable'
  | 'service_unavailable'
  | 'source_error'
  | 'internal';

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** How a mask transforms a value; `hide` drops the column altogether. */
export type MaskSpec =
  | { type: 'redact'; value?: string }
  | { type: 'null' }
  | { type: 'hash' }
  | { type: 'tokenize' }
  | { type: 'show_first'; n: number }
  | { type: 'show_last'; n: number }
  | { type: 'year_only' }
  | { type: 'round'; digits: number }
  | { type: 'bucket'; width: number }
  | { type: 'email_domain' }
  | { type: 'hide' };

export type MaskType = MaskSpec['type'];

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
}

export interface ScanRequest {
  /** Projection; default all visible columns. */
  columns?: string[];
  /** A filter in the Warden expression language, applied to the masked view. */
  filter?: string;
  /** e.g. ["age DESC", "site"]; applied to the masked view. */
  orderBy?: string[];
  limit?: number;
}

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

/** Arrow field / schema metadata keys set on scan and preview results. */
export const ARROW_META = {
  access: 'warden.access',
  mask: 'warden.mask',
  cellMasked: 'warden.cell_masked',
  policies: 'warden.policies',
  rowFilter: 'warden.row_filter',
  requestId: 'warden.request_id'
} as const;
