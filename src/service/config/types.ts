/** The loaded, validated configuration: what the YAML files say, with expressions parsed. */
import { AttributeValue, MaskSpec } from '../../common/api';
import { Expr } from '../policy/ast';

/** Where a definition came from, for error messages. */
export interface Origin {
  file: string;
  line: number;
}

export type FileFormat = 'csv' | 'parquet' | 'jsonl';

export interface FileSource {
  format: FileFormat;
  /** Absolute, resolved inside a data root. */
  path: string;
}

/** The audit log file itself, served as a dataset. */
export interface AuditFileSource {
  format: 'audit';
  path: string;
}

/** A PostgreSQL table or view, read through a named connection of warden.yaml. */
export interface PostgresSource {
  format: 'postgres';
  connection: string;
  /** `table` or `schema.table`, exactly as named in the database (quoted when used). */
  table: string;
}

export type Source = FileSource | AuditFileSource | PostgresSource;

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

export type SslMode = 'disable' | 'require' | 'verify-full';

/** A PostgreSQL server and login, from `connections` in warden.yaml. */
export interface PostgresConnection {
  name: string;
  host: string;
  port: number;
  database: string;
  user: string;
  /** From the environment variable named by `password_env`: secrets never sit in the YAML. */
  password?: string;
  ssl: SslMode;
  /** PEM certificates that verify the server (`ssl_ca_file`); the system's CAs when absent. */
  sslCa?: string;
  /** Most connections one service process opens for queries. */
  poolSize: number;
}

/** Where audit records go: an fsync'd local file, or a PostgreSQL table shared by replicas. */
export type AuditSettings = { sink: 'file'; path: string } | { sink: 'postgres'; connection: string; table: string };

export interface ServiceSettings {
  configDir: string;
  dataRoots: string[];
  identity: IdentitySettings;
  connections: Map<string, PostgresConnection>;
  audit: AuditSettings;
  maskKey: string;
}

export interface WardenConfig {
  settings: ServiceSettings;
  directory: Map<string, DirectoryEntry>;
  datasets: DatasetConfig[];
  policies: Policy[];
}
