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
  DatasetConfig,
  DirectoryEntry,
  IdentitySettings,
  Policy,
  ServiceSettings,
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
    audit: { path: string };
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
  return {
    configDir,
    dataRoots: data.data_roots.map(root => resolve(configDir, root)),
    identity,
    auditPath: resolve(configDir, data.audit.path),
    maskKey: loadMaskKey(configDir, data.masking?.key_file, file)
  };
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
      const source = entry.source as { format: 'csv' | 'parquet' | 'jsonl'; path: string };
      let sourcePath: string;
      try {
        sourcePath = resolveSourcePath(source.path, settings.dataRoots);
      } catch (error) {
        return file.fail([...at, 'source', 'path'], (error as Error).message);
      }
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
        source: { format: source.format, path: sourcePath },
        columns,
        origin: { file: path, line: file.lineOf(at) }
      });
    });
  }
  return [...datasets, auditDataset()];
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
