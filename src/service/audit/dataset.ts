/**
 * `warden.audit_log`: the audit log served as a dataset, governed like any other. Built-in
 * policies (overridable by defining a policy of the same name): everyone may read it, a
 * user sees only their own records unless in group `compliance`.
 */
import { AuditSettings, DatasetConfig, Policy, Source } from '../config/types';
import { parseExpression } from '../policy/parse';
import { AUDIT_COLUMNS } from './record';

export const AUDIT_DATASET = 'warden.audit_log';
export const COMPLIANCE_GROUP = 'compliance';

/** The dataset reads wherever the sink writes: the file, or the table replicas share. */
export function auditDataset(audit: AuditSettings): DatasetConfig {
  const source: Source =
    audit.sink === 'file' ? { format: 'audit', path: audit.path } : { format: 'postgres', connection: audit.connection, table: audit.table };
  return {
    name: AUDIT_DATASET,
    database: 'warden',
    table: 'audit_log',
    description: 'Who read what, when, through which client, under which policies: one record per access and per completed stream.',
    owner: 'warden',
    tags: ['audit'],
    source,
    columns: AUDIT_COLUMNS.map(column => ({ name: column.name, tags: [], description: column.description })),
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
    }
  ];
}
