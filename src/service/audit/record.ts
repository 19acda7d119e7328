/** What one audit record holds; the audit log dataset (`warden.audit_log`) has these columns. */
import { ClientKind } from '../../common/api';

export type AuditAction = 'authenticate' | 'whoami' | 'catalog' | 'describe' | 'preview' | 'scan' | 'snippet';

/**
 * `access` is written before anything is released; `complete` follows a data stream with
 * the rows and bytes actually sent (a missing `complete` means the stream was cut).
 */
export type AuditEvent = 'access' | 'complete';

export type AuditOutcome = 'allowed' | 'denied' | 'not_found' | 'unauthenticated' | 'invalid' | 'error' | 'completed' | 'aborted';

export interface AuditRecord {
  time: string;
  request_id: string;
  event: AuditEvent;
  user_name: string | null;
  groups: string | null;
  client: ClientKind;
  notebook: string | null;
  action: AuditAction;
  dataset: string | null;
  columns: string | null;
  policies: string | null;
  row_filter: string | null;
  caller_filter: string | null;
  outcome: AuditOutcome;
  reason: string | null;
  rows: number | null;
  bytes: number | null;
}

/** Column order and DuckDB types of the audit log dataset. */
export const AUDIT_COLUMNS: { name: keyof AuditRecord; type: string; description: string }[] = [
  { name: 'time', type: 'TIMESTAMPTZ', description: 'When the record was written (UTC)' },
  { name: 'request_id', type: 'VARCHAR', description: 'Request id; access and complete records share it' },
  { name: 'event', type: 'VARCHAR', description: 'access (before release) or complete (after a data stream)' },
  { name: 'user_name', type: 'VARCHAR', description: 'Authenticated principal' },
  { name: 'groups', type: 'VARCHAR', description: 'Groups of the principal, comma separated' },
  { name: 'client', type: 'VARCHAR', description: 'preview, python-client, catalog, extension or api' },
  { name: 'notebook', type: 'VARCHAR', description: 'Notebook path, when the client sent it' },
  { name: 'action', type: 'VARCHAR', description: 'authenticate, whoami, catalog, describe, preview, scan or snippet' },
  { name: 'dataset', type: 'VARCHAR', description: 'Dataset name as requested' },
  { name: 'columns', type: 'VARCHAR', description: 'Columns returned, comma separated' },
  { name: 'policies', type: 'VARCHAR', description: 'Policies applied, comma separated' },
  { name: 'row_filter', type: 'VARCHAR', description: 'Row filter applied, in words' },
  { name: 'caller_filter', type: 'VARCHAR', description: "The caller's own filter" },
  { name: 'outcome', type: 'VARCHAR', description: 'allowed, denied, not_found, unauthenticated, invalid, error, completed or aborted' },
  { name: 'reason', type: 'VARCHAR', description: 'Why access was refused or failed' },
  { name: 'rows', type: 'BIGINT', description: 'Rows returned (complete records)' },
  { name: 'bytes', type: 'BIGINT', description: 'Bytes returned (complete records)' }
];
