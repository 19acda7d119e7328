/** The loaded, validated configuration: what the YAML files say, with expressions parsed. */
import { AttributeValue } from '../../common/api';
import { OrderKey } from '../../common/order';
import { ConnectionSettings } from '../engine/engine';
import { Source } from '../engine/source';
import { Origin, Policy } from '../policy/types';
import { ResourceSettings } from './resources';
import type { TrustedClaim } from './schemas';

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
  /** The order of rows when a read names none (`order_by`); empty: the source's order. */
  orderBy: OrderKey[];
  origin: Origin;
}

export interface DirectoryEntry {
  groups: string[];
  attributes: Record<string, AttributeValue>;
}

/** Callers identified by their own JupyterHub API token (see identity/hub.ts). */
export interface HubSettings {
  apiUrl: string;
  /** The service's own hub token (scopes read:tokens, read:servers): looks up callers' tokens and their owners' servers. */
  serviceToken: string;
  trustedClaims: TrustedClaim[];
  maxTokenLifetimeSeconds: number;
  cacheSeconds: number;
}

export interface IdentitySettings {
  /** Required whenever a JWT key is configured. */
  audience?: string;
  issuer?: string;
  hs256SecretEnv?: string;
  jwksFile?: string;
  jwksUrl?: string;
  /** Empty when only hub tokens are accepted. */
  algorithms: string[];
  trustedClaims: TrustedClaim[];
  maxTokenLifetimeSeconds: number;
  hub?: HubSettings;
}

/** Where audit records go: an fsync'd local file, or a PostgreSQL table shared by replicas. */
export type AuditSettings = { sink: 'file'; path: string } | { sink: 'postgres'; connection: string; table: string };

export interface ServiceSettings {
  configDir: string;
  dataRoots: string[];
  identity: IdentitySettings;
  /** By name; each of the engine kind it names (engine/kinds.ts). */
  connections: Map<string, ConnectionSettings>;
  audit: AuditSettings;
  maskKey: string;
  resources: ResourceSettings;
}

/** What a configuration was read from: files, and directories whose YAML files it read. */
export interface ConfigInputs {
  files: string[];
  directories: string[];
}

export interface WardenConfig {
  settings: ServiceSettings;
  directory: Map<string, DirectoryEntry>;
  datasets: DatasetConfig[];
  policies: Policy[];
  /** The files and directories it was read from: what the watcher watches. */
  inputs: ConfigInputs;
}

/**
 * Datasets and policies the service brings itself (the audit log's), added by loadConfig:
 * a configured dataset may not take a built-in dataset's name, a configured policy of a
 * built-in policy's name replaces it.
 */
export interface Builtins {
  datasets(settings: ServiceSettings): DatasetConfig[];
  policies(): Policy[];
}
