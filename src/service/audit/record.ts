/** What one audit record holds; the audit log dataset (`warden.audit_log`) has these columns. */
import { ClientKind } from '../../common/api';

export type AuditAction = 'authenticate' | 'whoami' | 'catalog' | 'describe' | 'preview' | 'scan' | 'count' | 'snippet' | 'watch';

/**
 * `access` is written before anything is released; `complete` follows a data stream with
 * what the client took; one the service could not write when the stream ended is written
 * later (access/completions.ts). A missing `complete` (PostgreSQL sink, or the newest streams of
 * a killed service until its next start) means the end is unknown: anything up to the whole
 * answer may have been released.
 */
export type AuditEvent = 'access' | 'complete';

export type AuditOutcome = 'allowed' | 'denied' | 'not_found' | 'unauthenticated' | 'invalid' | 'refused' | 'error' | 'completed' | 'aborted' | 'unknown';

/**
 * `outcome` and `reason` say what the caller was told; `actual_outcome` and `actual_reason`
 * what really happened. They differ where telling the truth would leak: a dataset hidden from
 * the caller is answered (and recorded for them) as not found, while compliance sees that it
 * was denied and by which policy.
 */
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
  actual_outcome: AuditOutcome;
  actual_reason: string | null;
}

/**
 * A record as the sinks store it. Text that no sink can hold as it is (a lone UTF-16
 * surrogate, which UTF-8 cannot encode; NUL, which PostgreSQL text refuses) is stored with
 * U+FFFD in its place, and the exact value goes to `raw_values` as JSON (`\u` escapes, so
 * plain ASCII), keyed by field: `JSON.parse(raw_values)` gives every such field back exactly.
 */
export type StoredRecord = AuditRecord & { raw_values: string | null };

/** Columns only compliance sees (the built-in policies hide them from everyone else). */
export const COMPLIANCE_ONLY_TAG = 'audit.compliance-only';

/** Column order and DuckDB types of the audit log dataset. */
export const AUDIT_COLUMNS: { name: keyof StoredRecord; type: string; description: string; tags?: string[] }[] = [
  { name: 'time', type: 'TIMESTAMPTZ', description: 'When the record was written (UTC)' },
  { name: 'request_id', type: 'VARCHAR', description: 'Request id; access and complete records share it' },
  { name: 'event', type: 'VARCHAR', description: 'access (before release) or complete (after a data stream)' },
  { name: 'user_name', type: 'VARCHAR', description: 'Authenticated principal; on an unauthenticated record, the owner of the refused credential when its issuer said (else empty)' },
  { name: 'groups', type: 'VARCHAR', description: 'Groups of the principal, comma separated' },
  { name: 'client', type: 'VARCHAR', description: 'preview, python-client, catalog, extension or api (what the caller said), or job (a job credential)' },
  { name: 'notebook', type: 'VARCHAR', description: 'Notebook path, when the client sent it' },
  { name: 'action', type: 'VARCHAR', description: 'authenticate, whoami, catalog, describe, preview, scan, count, snippet or watch' },
  { name: 'dataset', type: 'VARCHAR', description: 'Dataset name as requested' },
  { name: 'columns', type: 'VARCHAR', description: 'Columns returned, comma separated' },
  { name: 'policies', type: 'VARCHAR', description: 'Policies applied, comma separated' },
  { name: 'row_filter', type: 'VARCHAR', description: 'Row filter applied, in words' },
  { name: 'caller_filter', type: 'VARCHAR', description: "The caller's own filter" },
  { name: 'outcome', type: 'VARCHAR', description: 'What the caller was told: allowed, not_found, unauthenticated, invalid, error; for a stream\'s end completed, aborted, or unknown (the service stopped first)' },
  { name: 'reason', type: 'VARCHAR', description: 'Why access was refused or failed, as the caller was told' },
  { name: 'rows', type: 'BIGINT', description: 'Rows returned (complete records), rows counted (count), view updates sent (watch)' },
  { name: 'bytes', type: 'BIGINT', description: 'Bytes returned (complete records)' },
  { name: 'actual_outcome', type: 'VARCHAR', description: 'What really happened (denied where the caller was told not_found)', tags: [COMPLIANCE_ONLY_TAG] },
  { name: 'actual_reason', type: 'VARCHAR', description: 'The real reason (the denying policy, the engine error)', tags: [COMPLIANCE_ONLY_TAG] },
  { name: 'raw_values', type: 'VARCHAR', description: 'Exact values of fields stored with U+FFFD (lone surrogates, NUL), as JSON', tags: [COMPLIANCE_ONLY_TAG] }
];

/** Lone surrogates and NUL: what UTF-8 or PostgreSQL text cannot hold. */
const UNSTORABLE = /[\0]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The record as sinks store it: faithful, and readable by every reader (see StoredRecord). */
export function storable(record: AuditRecord): StoredRecord {
  const stored: Record<string, unknown> = { ...record, raw_values: null };
  const raw: Record<string, string> = {};
  for (const [field, value] of Object.entries(record)) {
    if (typeof value !== 'string' || value.search(UNSTORABLE) < 0) continue;
    raw[field] = value;
    stored[field] = value.replace(UNSTORABLE, '\uFFFD');
  }
  // JSON.stringify escapes lone surrogates and NUL as \u sequences: the text is storable everywhere.
  if (Object.keys(raw).length) stored.raw_values = JSON.stringify(raw);
  return stored as unknown as StoredRecord;
}
