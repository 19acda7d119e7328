/** Loads and validates a config directory into a WardenConfig. Any problem: ConfigError with file and line. */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AttributeValue, MaskSpec } from '../../common/api';
import { ExpressionError, parseExpression } from '../policy/parse';
import { AUDIT_DATASET, builtinAuditPolicies, auditDataset } from '../audit/dataset';
import catalogSchema from './schema/catalog.schema.json';
import directorySchema from './schema/directory.schema.json';
import policiesSchema from './schema/policies.schema.json';
import wardenSchema from './schema/warden.schema.json';
import { resolveSourcePath } from './paths';
import {
  AuditSettings,
  DatasetConfig,
  DirectoryEntry,
  FileFormat,
  IdentitySettings,
  Policy,
  PostgresConnection,
  ServiceSettings,
  Source,
  WardenConfig
} from './types';
import { ConfigError, YamlFile, validate } from './yaml-file';

export { ConfigError };

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter(name => /\.ya?ml$/.test(name))
    .sort()
    .map(name => join(dir, name));
}

interface ConnectionYaml {
  host: string;
  port?: number;
  database: string;
  user: string;
  password_env?: string;
  ssl?: PostgresConnection['ssl'];
  ssl_ca_file?: string;
  pool_size?: number;
}

const DEFAULT_AUDIT_TABLE = 'warden_audit';

function loadSettings(configDir: string): ServiceSettings {
  const path = join(configDir, 'warden.yaml');
  if (!existsSync(path)) {
    throw new ConfigError(path, 1, 'missing: every config directory needs a warden.yaml (see docs/configuration.md)');
  }
  const file = YamlFile.read(path);
  validate(file, wardenSchema);
  const data = file.data as {
    data_roots: string[];
    identity: { audience: string; issuer?: string; hs256_secret_env?: string; jwks_file?: string; jwks_url?: string; algorithms?: string[] };
    connections?: Record<string, ConnectionYaml>;
    audit: { path?: string; postgres?: { connection: string; table?: string } };
    masking?: { key_file?: string };
  };
  const identity: IdentitySettings = {
    audience: data.identity.audience,
    issuer: data.identity.issuer,
    hs256SecretEnv: data.identity.hs256_secret_env,
    jwksFile: data.identity.jwks_file && resolve(configDir, data.identity.jwks_file),
    jwksUrl: data.identity.jwks_url,
    algorithms:
      data.identity.algorithms ??
      [...(data.identity.hs256_secret_env ? ['HS256'] : []), ...(data.identity.jwks_file || data.identity.jwks_url ? ['RS256', 'ES256'] : [])]
  };
  if (identity.algorithms.includes('HS256') && !identity.hs256SecretEnv) {
    file.fail(['identity', 'algorithms'], 'HS256 is listed but hs256_secret_env is not set');
  }
  const connections = new Map(
    Object.entries(data.connections ?? {}).map(([name, connection]) => [name, loadConnection(configDir, name, connection, file)])
  );
  let audit: AuditSettings;
  if (data.audit.postgres) {
    const { connection, table = DEFAULT_AUDIT_TABLE } = data.audit.postgres;
    checkConnection(connection, connections, file, ['audit', 'postgres', 'connection']);
    audit = { sink: 'postgres', connection, table };
  } else {
    audit = { sink: 'file', path: resolve(configDir, data.audit.path!) };
  }
  return {
    configDir,
    dataRoots: data.data_roots.map(root => resolve(configDir, root)),
    identity,
    connections,
    audit,
    maskKey: loadMaskKey(configDir, data.masking?.key_file, file)
  };
}

function loadConnection(configDir: string, name: string, connection: ConnectionYaml, file: YamlFile): PostgresConnection {
  const at = ['connections', name];
  let password: string | undefined;
  if (connection.password_env) {
    password = process.env[connection.password_env];
    if (!password) {
      file.fail([...at, 'password_env'], `connection ${name}: the environment variable ${connection.password_env} is not set (it holds the password)`);
    }
  }
  const ssl = connection.ssl ?? 'disable';
  let sslCa: string | undefined;
  if (connection.ssl_ca_file) {
    if (ssl !== 'verify-full') {
      file.fail([...at, 'ssl_ca_file'], `connection ${name}: ssl_ca_file needs ssl: verify-full (with ssl: ${ssl} the certificate would not be checked)`);
    }
    try {
      sslCa = readFileSync(resolve(configDir, connection.ssl_ca_file), 'utf8');
    } catch (error) {
      file.fail([...at, 'ssl_ca_file'], `connection ${name}: cannot read ssl_ca_file: ${(error as Error).message}`);
    }
  }
  return {
    name,
    host: connection.host,
    port: connection.port ?? 5432,
    database: connection.database,
    user: connection.user,
    password,
    ssl,
    sslCa,
    poolSize: connection.pool_size ?? 10
  };
}

function checkConnection(name: string, connections: Map<string, PostgresConnection>, file: YamlFile, at: (string | number)[]): void {
  if (!connections.has(name)) {
    const known = [...connections.keys()];
    file.fail(at, `unknown connection "${name}": ${known.length ? `warden.yaml defines ${known.join(', ')}` : 'warden.yaml defines no connections'}`);
  }
}

function loadMaskKey(configDir: string, keyFile: string | undefined, file: YamlFile): string {
  const fromEnv = process.env.WARDEN_MASK_KEY;
  if (fromEnv) return fromEnv;
  if (!keyFile) {
    return file.fail(['masking'], 'no masking key: set masking.key_file or the WARDEN_MASK_KEY environment variable');
  }
  try {
    const key = readFileSync(resolve(configDir, keyFile), 'utf8').trim();
    if (key.length < 16) {
      return file.fail(['masking', 'key_file'], `masking key in ${keyFile} is shorter than 16 characters`);
    }
    return key;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    return file.fail(['masking', 'key_file'], `cannot read masking key: ${(error as Error).message}`);
  }
}

function loadDirectory(configDir: string): Map<string, DirectoryEntry> {
  const directory = new Map<string, DirectoryEntry>();
  const path = join(configDir, 'directory.yaml');
  if (!existsSync(path)) return directory;
  const file = YamlFile.read(path);
  validate(file, directorySchema);
  const data = file.data as { users?: Record<string, { groups?: string[]; attributes?: Record<string, AttributeValue> }> };
  for (const [user, entry] of Object.entries(data.users ?? {})) {
    directory.set(user, { groups: entry?.groups ?? [], attributes: entry?.attributes ?? {} });
  }
  return directory;
}

function loadDatasets(configDir: string, settings: ServiceSettings): DatasetConfig[] {
  const datasets: DatasetConfig[] = [];
  const seen = new Map<string, string>();
  for (const path of yamlFiles(join(configDir, 'catalog'))) {
    const file = YamlFile.read(path);
    validate(file, catalogSchema);
    const entries = (file.data as { datasets: Record<string, unknown>[] }).datasets;
    entries.forEach((entry, index) => {
      const at = ['datasets', index];
      const name = entry.name as string;
      if (name === AUDIT_DATASET) file.fail([...at, 'name'], `${AUDIT_DATASET} is built in and cannot be redefined`);
      if (seen.has(name)) file.fail([...at, 'name'], `dataset ${name} is already defined in ${seen.get(name)}`);
      seen.set(name, `${path}:${file.lineOf([...at, 'name'])}`);
      const source = loadSource(entry.source as SourceYaml, settings, file, [...at, 'source']);
      const columns = ((entry.columns as { name: string; tags?: string[]; description?: string }[]) ?? []).map(column => ({
        name: column.name,
        tags: column.tags ?? [],
        description: column.description ?? ''
      }));
      const [database, table] = name.split('.');
      datasets.push({
        name,
        database,
        table,
        description: (entry.description as string) ?? '',
        owner: (entry.owner as string) ?? '',
        tags: (entry.tags as string[]) ?? [],
        source,
        columns,
        origin: { file: path, line: file.lineOf(at) }
      });
    });
  }
  return [...datasets, auditDataset(settings.audit)];
}

type SourceYaml = { format: FileFormat; path: string } | { format: 'postgres'; connection: string; table: string };

function loadSource(source: SourceYaml, settings: ServiceSettings, file: YamlFile, at: (string | number)[]): Source {
  if (source.format === 'postgres') {
    checkConnection(source.connection, settings.connections, file, [...at, 'connection']);
    return source;
  }
  try {
    return { format: source.format, path: resolveSourcePath(source.path, settings.dataRoots) };
  } catch (error) {
    return file.fail([...at, 'path'], (error as Error).message);
  }
}

function parseAt(file: YamlFile, at: (string | number)[], text: string) {
  try {
    return parseExpression(text);
  } catch (error) {
    if (error instanceof ExpressionError) file.fail(at, `invalid expression: ${error.message}`);
    throw error;
  }
}

function loadPolicies(configDir: string): Policy[] {
  const policies: Policy[] = [];
  const seen = new Map<string, string>();
  for (const path of yamlFiles(join(configDir, 'policies'))) {
    const file = YamlFile.read(path);
    validate(file, policiesSchema);
    const entries = (file.data as { policies: Record<string, unknown>[] }).policies;
    entries.forEach((entry, index) => {
      const at = ['policies', index];
      const name = entry.name as string;
      if (seen.has(name)) file.fail([...at, 'name'], `policy ${name} is already defined in ${seen.get(name)}`);
      seen.set(name, `${path}:${file.lineOf([...at, 'name'])}`);
      const base = {
        name,
        datasets: entry.datasets as Policy['datasets'],
        principals: entry.principals as Policy['principals'],
        unless: entry.unless as Policy['unless'],
        origin: { file: path, line: file.lineOf(at) }
      };
      switch (entry.effect) {
        case 'grant':
        case 'deny':
          policies.push({ ...base, effect: entry.effect });
          break;
        case 'row_filter':
          policies.push({ ...base, effect: 'row_filter', filter: parseAt(file, [...at, 'filter'], entry.filter as string) });
          break;
        case 'column_mask':
          policies.push({ ...base, effect: 'column_mask', columns: entry.columns as never, mask: entry.mask as MaskSpec });
          break;
        case 'cell_mask':
          policies.push({
            ...base,
            effect: 'cell_mask',
            columns: entry.columns as never,
            mask: entry.mask as MaskSpec,
            when: parseAt(file, [...at, 'when'], entry.when as string)
          });
          break;
      }
    });
  }
  for (const builtin of builtinAuditPolicies()) {
    if (!seen.has(builtin.name)) policies.push(builtin);
  }
  return policies;
}

export function loadConfig(configDir: string): WardenConfig {
  const dir = resolve(configDir);
  if (!existsSync(dir)) {
    throw new ConfigError(dir, 1, 'config directory does not exist');
  }
  const settings = loadSettings(dir);
  return {
    settings,
    directory: loadDirectory(dir),
    datasets: loadDatasets(dir, settings),
    policies: loadPolicies(dir)
  };
}
