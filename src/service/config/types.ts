/** The loaded, validated configuration: what the YAML files say, with expressions parsed. */
import { AttributeValue, MaskSpec } from '../../common/api';
import { Expr } from '../policy/ast';

/** Where a definition came from, for error messages. */
export interface Origin {
  file: string;
  line: number;
}

export type SourceFormat = 'csv' | 'parquet' | 'jsonl';

export interface FileSource {
  format: SourceFormat;
  /** Absolute, resolved inside a data root. */
  path: string;
}

/** The audit log itself, served as a dataset. */
export interface AuditSource {
  format: 'audit';
}

export type Source = FileSource | AuditSource;

export interface ColumnConfig {
  name: string;
  tags: string[];
  description: string;
}

export interface DatasetConfig {
  name: string;
  database: string;
  table: string;
  description: string;
  owner: string;
  tags: string[];
  source: Source;
  columns: ColumnConfig[];
  origin: Origin;
}

export interface PrincipalSelector {
  everyone?: boolean;
  users?: string[];
  groups?: string[];
  attributes?: Record<string, AttributeValue>;
}

export interface DatasetSelector {
  names?: string[];
  tags?: string[];
}

export interface ColumnSelector {
  names?: string[];
  tags?: string[];
}

interface PolicyBase {
  name: string;
  datasets: DatasetSelector;
  principals: PrincipalSelector;
  unless?: PrincipalSelector;
  origin: Origin;
}

export type Policy =
  | (PolicyBase & { effect: 'grant' })
  | (PolicyBase & { effect: 'deny' })
  | (PolicyBase & { effect: 'row_filter'; filter: Expr })
  | (PolicyBase & { effect: 'column_mask'; columns: ColumnSelector; mask: MaskSpec })
  | (PolicyBase & { effect: 'cell_mask'; columns: ColumnSelector; mask: MaskSpec; when: Expr });

export interface DirectoryEntry {
  groups: string[];
  attributes: Record<string, AttributeValue>;
}

export interface IdentitySettings {
  audience: string;
  issuer?: string;
  hs256SecretEnv?: string;
  jwksFile?: string;
  jwksUrl?: string;
  algorithms: string[];
}

export interface ServiceSettings {
  configDir: string;
  dataRoots: string[];
  identity: IdentitySettings;
  auditPath: string;
  maskKey: string;
}

export interface WardenConfig {
  settings: ServiceSettings;
  directory: Map<string, DirectoryEntry>;
  datasets: DatasetConfig[];
  policies: Policy[];
}
