/**
 * `warden.audit_log`: the audit log served as a dataset, governed like any other. Built-in
 * policies (overridable by defining a policy of the same name): everyone may read it, a
 * user sees only their own records, and not the compliance-only columns (what really
 * happened where they were told otherwise), unless in group `compliance`. The service adds
 * these built-ins to the loaded configuration (service.ts).
 */
import { AuditSettings, Builtins, DatasetConfig } from '../config/types';
import { Source } from '../engine/source';
import { parseExpression } from '../policy/parse';
import { Policy } from '../policy/types';
import { AUDIT_COLUMNS, COMPLIANCE_ONLY_TAG } from './record';

export const AUDIT_DATASET = 'warden.audit_log';
export const COMPLIANCE_GROUP = 'compliance';

/**
 * The dataset reads wherever the sink writes: the file (JSON lines of declared types, with the
 * files it was rotated to), or the table replicas share.
 */
export function auditDataset(audit: AuditSettings): DatasetConfig {
  const source: Source =
    audit.sink === 'file'
      ? { format: 'jsonl', path: audit.path, columns: AUDIT_COLUMNS.map(({ name, type }) => ({ name, type })), log: true }
      : { format: 'postgres', connection: audit.connection, table: audit.table };
  return {
    name: AUDIT_DATASET,
    database: 'warden',
    table: 'audit_log',
    description: 'Who read what, when, through which client, under which policies: one record per access and per completed stream.',
    owner: 'warden',
    tags: ['audit'],
    source,
    columns: AUDIT_COLUMNS.map(column => ({ name: column.name, tags: column.tags ?? [], description: column.description })),
    // Newest first: what people look for in a log.
    orderBy: [{ column: 'time', descending: true }],
    origin: { file: '<built-in>', line: 0 }
  };
}

export function builtinAuditPolicies(): Policy[] {
  const origin = { file: '<built-in>', line: 0 };
  const datasets = { names: [AUDIT_DATASET] };
  return [
    { name: 'builtin-audit-readable', effect: 'grant', datasets, principals: { everyone: true }, origin },
    {
      name: 'builtin-audit-own-records',
      effect: 'row_filter',
      datasets,
      principals: { everyone: true },
      unless: { groups: [COMPLIANCE_GROUP] },
      filter: parseExpression('user_name = user.name'),
      origin
    },
    {
      name: 'builtin-audit-compliance-columns',
      effect: 'column_mask',
      datasets,
      principals: { everyone: true },
      unless: { groups: [COMPLIANCE_GROUP] },
      columns: { tags: [COMPLIANCE_ONLY_TAG] },
      mask: { type: 'hide' },
      origin
    }
  ];
}

/** The audit log's dataset and policies, for loadConfig. */
export const AUDIT_BUILTINS: Builtins = {
  datasets: settings => [auditDataset(settings.audit)],
  policies: builtinAuditPolicies
};
