/** Loads and validates a config directory into a WardenConfig. Any problem: ConfigError with file and line. */
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseOrderKey } from '../../common/order';
import { ConnectionContext, ConnectionSettings } from '../engine/engine';
import { DEFAULT_KIND, ENGINE_KINDS } from '../engine/kinds';
import { FileFormat, Source } from '../engine/source';
import { Expr } from '../policy/ast';
import { ExpressionError, parseExpression } from '../policy/parse';
import { Policy } from '../policy/types';
import { resolveSourcePath } from './paths';
import { KnownTargets, PROTECTIONS, attributesOf, unknownAttribute, unknownDataset } from './targets';
import { resourceSettings, thisMachine } from './resources';
import { CatalogYaml, PoliciesYaml, SettingsYaml, catalogSchema, directorySchema, policiesSchema, settingsSchema } from './schemas';
import { AuditSettings, Builtins, DatasetConfig, DirectoryEntry, IdentitySettings, ServiceSettings, WardenConfig } from './types';
import { ConfigError, YamlFile, validate, yamlFilesIn } from './yaml-file';

export { ConfigError };

const KINDS = [...ENGINE_KINDS.values()];
const SETTINGS_SCHEMA = settingsSchema(KINDS);
const CATALOG_SCHEMA = catalogSchema(KINDS);

/** No built-in datasets or policies: the configuration exactly as the files say. */
export const NO_BUILTINS: Builtins = { datasets: () => [], policies: () => [] };

const DEFAULT_AUDIT_TABLE = 'warden_audit';

/** Loads warden.yaml; `inputs` gets the other files it names (keys, certificates). */
function loadSettings(configDir: string, inputs: string[]): ServiceSettings {
  const path = join(configDir, 'warden.yaml');
  if (!existsSync(path)) {
    throw new ConfigError(path, 1, 'missing: every config directory needs a warden.yaml (see docs/configuration.md)');
  }
  const file = YamlFile.read(path);
  const data = validate(file, SETTINGS_SCHEMA);
  const identity = loadIdentity(configDir, data.identity, file);
  if (identity.jwksFile) inputs.push(identity.jwksFile);
  const connections = new Map<string, ConnectionSettings>();
  for (const [name, yaml] of Object.entries(data.connections ?? {})) {
    // The schema has checked the connection against its kind's own schema.
    const kind = ENGINE_KINDS.get(yaml.kind ?? DEFAULT_KIND)!;
    const fail: ConnectionContext['fail'] = (at, problem) => file.fail(['connections', name, ...at], problem);
    const context: ConnectionContext = {
      fail,
      passwordFromEnv: variable => {
        if (!variable) return undefined;
        const password = process.env[variable];
        if (!password) fail(['password_env'], `connection ${name}: the environment variable ${variable} is not set (it holds the password)`);
        return password;
      },
      readFile: fileName => {
        const path = resolve(configDir, fileName);
        inputs.push(path);
        return readFileSync(path, 'utf8');
      }
    };
    connections.set(name, kind.connection(name, yaml, context));
  }
  let audit: AuditSettings;
  if (data.audit.postgres) {
    const { connection, table = DEFAULT_AUDIT_TABLE } = data.audit.postgres;
    const at = ['audit', 'postgres', 'connection'];
    checkConnection(connection, 'postgres', connections, file, at);
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
    maskKey: loadMaskKey(configDir, data.masking?.key_file, file, inputs),
    resources: resourceSettings(data.resources, configDir, thisMachine())
  };
}

const DEFAULT_MAX_JWT_LIFETIME_SECONDS = 24 * 3600;
const DEFAULT_MAX_HUB_TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600;
const DEFAULT_HUB_CACHE_SECONDS = 10;

/** The issuers callers' credentials are checked with: a JWT key, JupyterHub, or both. */
function loadIdentity(configDir: string, data: SettingsYaml['identity'], file: YamlFile): IdentitySettings {
  const jwtKey = Boolean(data.hs256_secret_env || data.jwks_file || data.jwks_url);
  const identity: IdentitySettings = {
    audience: data.audience,
    issuer: data.issuer,
    hs256SecretEnv: data.hs256_secret_env,
    jwksFile: data.jwks_file && resolve(configDir, data.jwks_file),
    jwksUrl: data.jwks_url,
    algorithms: data.algorithms ?? [...(data.hs256_secret_env ? ['HS256'] : []), ...(data.jwks_file || data.jwks_url ? ['RS256', 'ES256'] : [])],
    trustedClaims: data.trusted_claims ?? [],
    maxTokenLifetimeSeconds: data.max_token_lifetime_seconds ?? DEFAULT_MAX_JWT_LIFETIME_SECONDS
  };
  if (jwtKey && !data.audience) {
    file.fail(['identity'], 'identity: missing "audience", the `aud` every JWT must carry (required with hs256_secret_env, jwks_file or jwks_url)');
  }
  if (identity.algorithms.includes('HS256') && !identity.hs256SecretEnv) {
    file.fail(['identity', 'algorithms'], 'HS256 is listed but hs256_secret_env is not set');
  }
  if (data.algorithms && !jwtKey) {
    file.fail(['identity', 'algorithms'], 'algorithms are listed but no JWT key is configured (hs256_secret_env, jwks_file or jwks_url)');
  }
  if (data.hub) {
    const at = ['identity', 'hub'];
    const apiUrl = data.hub.api_url ?? process.env.JUPYTERHUB_API_URL;
    if (!apiUrl) {
      file.fail(at, 'identity.hub: no hub API URL: set identity.hub.api_url, or run Warden as a JupyterHub service (the hub sets JUPYTERHUB_API_URL)');
    }
    const tokenEnv = data.hub.service_token_env ?? 'JUPYTERHUB_API_TOKEN';
    const serviceToken = process.env[tokenEnv];
    if (!serviceToken) {
      file.fail(at, `identity.hub: the environment variable ${tokenEnv} with the service's own hub token is not set: run Warden as a JupyterHub service, or set identity.hub.service_token_env`);
    }
    identity.hub = {
      apiUrl: apiUrl.replace(/\/+$/, ''),
      serviceToken,
      trustedClaims: data.hub.trusted_claims ?? [],
      maxTokenLifetimeSeconds: data.hub.max_token_lifetime_seconds ?? DEFAULT_MAX_HUB_TOKEN_LIFETIME_SECONDS,
      cacheSeconds: data.hub.cache_seconds ?? DEFAULT_HUB_CACHE_SECONDS
    };
  }
  return identity;
}

/** A reference to a connection must name one of the kind it needs. */
function checkConnection(name: string, kind: string, connections: Map<string, ConnectionSettings>, file: YamlFile, at: (string | number)[]): void {
  const connection = connections.get(name);
  if (!connection) {
    const known = [...connections.keys()];
    file.fail(at, `unknown connection "${name}": ${known.length ? `warden.yaml defines ${known.join(', ')}` : 'warden.yaml defines no connections'}`);
  }
  if (connection.kind !== kind) {
    file.fail(at, `connection "${name}" is a ${connection.kind} connection; this needs a ${kind} one`);
  }
}

function loadMaskKey(configDir: string, keyFile: string | undefined, file: YamlFile, inputs: string[]): string {
  const fromEnv = process.env.WARDEN_MASK_KEY;
  if (fromEnv) return fromEnv;
  if (!keyFile) {
    return file.fail(['masking'], 'no masking key: set masking.key_file or the WARDEN_MASK_KEY environment variable');
  }
  inputs.push(resolve(configDir, keyFile));
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
  const data = validate(YamlFile.read(path), directorySchema);
  for (const [user, entry] of Object.entries(data.users ?? {})) {
    directory.set(user, { groups: entry.groups ?? [], attributes: entry.attributes ?? {} });
  }
  return directory;
}

function loadDatasets(configDir: string, settings: ServiceSettings, builtins: DatasetConfig[]): DatasetConfig[] {
  const datasets: DatasetConfig[] = [];
  const builtin = new Set(builtins.map(dataset => dataset.name));
  const seen = new Map<string, string>();
  for (const path of yamlFilesIn(join(configDir, 'catalog'))) {
    const file = YamlFile.read(path);
    validate(file, CATALOG_SCHEMA).datasets.forEach((entry, index) => {
      const at = ['datasets', index];
      const { name } = entry;
      if (builtin.has(name)) file.fail([...at, 'name'], `${name} is built in and cannot be redefined`);
      if (seen.has(name)) file.fail([...at, 'name'], `dataset ${name} is already defined in ${seen.get(name)}`);
      seen.set(name, `${path}:${file.lineOf([...at, 'name'])}`);
      const columns = (entry.columns ?? []).map(column => ({ name: column.name, tags: column.tags ?? [], description: column.description ?? '' }));
      const [database, table] = name.split('.');
      datasets.push({
        name,
        database,
        table,
        description: entry.description ?? '',
        owner: entry.owner ?? '',
        tags: entry.tags ?? [],
        source: loadSource(entry.source, settings, file, [...at, 'source']),
        columns,
        // The schema has checked every entry.
        orderBy: (entry.order_by ?? []).map(key => parseOrderKey(key)!),
        origin: { file: path, line: file.lineOf(at) }
      });
    });
  }
  return [...datasets, ...builtins];
}

function loadSource(source: CatalogYaml['datasets'][number]['source'], settings: ServiceSettings, file: YamlFile, at: (string | number)[]): Source {
  // The schema has checked that a file format comes with a path, an engine kind with a connection and a table.
  if (source.connection !== undefined) {
    checkConnection(source.connection, source.format, settings.connections, file, [...at, 'connection']);
    return { format: source.format, connection: source.connection, table: source.table! };
  }
  try {
    return { format: source.format as FileFormat, path: resolveSourcePath(source.path!, settings.dataRoots) };
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

/** Refuses a protection aimed at a dataset or a user attribute that does not exist (config/targets.ts). */
function checkTargets(file: YamlFile, at: (string | number)[], entry: PoliciesYaml['policies'][number], known: KnownTargets): void {
  if (!PROTECTIONS.has(entry.effect)) return;
  (entry.datasets.names ?? []).forEach((name, index) => {
    const problem = unknownDataset(name, known);
    if (problem) file.fail([...at, 'datasets', 'names', index], `policy ${entry.name}: datasets.names: ${problem}`);
  });
  for (const attribute of Object.keys(entry.principals.attributes ?? {})) {
    const problem = unknownAttribute(attribute, known, 'the policy would apply to no one');
    if (problem) file.fail([...at, 'principals', 'attributes', attribute], `policy ${entry.name}: principals: ${problem}`);
  }
}

function checkAttributesRead(file: YamlFile, at: (string | number)[], policy: string, part: 'filter' | 'when', expr: Expr, known: KnownTargets): void {
  for (const attribute of attributesOf(expr)) {
    const problem = unknownAttribute(attribute, known, `it would be NULL for every user (a filter then withholds every row, a condition never holds): fix the name, or give the attribute to the users in directory.yaml`);
    if (problem) file.fail([...at, part], `policy ${policy}: ${part}: ${problem}`);
  }
}

function loadPolicies(configDir: string, builtins: Policy[], known: KnownTargets): Policy[] {
  const policies: Policy[] = [];
  const seen = new Map<string, string>();
  for (const path of yamlFilesIn(join(configDir, 'policies'))) {
    const file = YamlFile.read(path);
    validate(file, policiesSchema).policies.forEach((entry, index) => {
      const at = ['policies', index];
      const { name } = entry;
      if (seen.has(name)) file.fail([...at, 'name'], `policy ${name} is already defined in ${seen.get(name)}`);
      seen.set(name, `${path}:${file.lineOf([...at, 'name'])}`);
      checkTargets(file, at, entry, known);
      const base = { name, datasets: entry.datasets, principals: entry.principals, unless: entry.unless, origin: { file: path, line: file.lineOf(at) } };
      // The schema has checked that each effect comes with its own keys (policiesSchema).
      switch (entry.effect) {
        case 'grant':
        case 'deny':
          policies.push({ ...base, effect: entry.effect });
          break;
        case 'row_filter': {
          const filter = parseAt(file, [...at, 'filter'], entry.filter!);
          checkAttributesRead(file, at, name, 'filter', filter, known);
          policies.push({ ...base, effect: 'row_filter', filter });
          break;
        }
        case 'column_mask':
          policies.push({ ...base, effect: 'column_mask', columns: entry.columns!, mask: entry.mask! });
          break;
        case 'cell_mask': {
          const when = parseAt(file, [...at, 'when'], entry.when!);
          checkAttributesRead(file, at, name, 'when', when, known);
          policies.push({ ...base, effect: 'cell_mask', columns: entry.columns!, mask: entry.mask!, when });
          break;
        }
      }
    });
  }
  for (const builtin of builtins) {
    if (!seen.has(builtin.name)) policies.push(builtin);
  }
  return policies;
}

/** The configuration of a directory, with `builtins` added (the service passes the audit log's). */
export function loadConfig(configDir: string, builtins: Builtins = NO_BUILTINS): WardenConfig {
  const dir = resolve(configDir);
  if (!existsSync(dir)) {
    throw new ConfigError(dir, 1, 'config directory does not exist');
  }
  const files = [join(dir, 'warden.yaml'), join(dir, 'directory.yaml')];
  const settings = loadSettings(dir, files);
  const directory = loadDirectory(dir);
  const datasets = loadDatasets(dir, settings, builtins.datasets(settings));
  const known: KnownTargets = {
    datasets: new Set(datasets.map(dataset => dataset.name)),
    // Attributes from trusted token claims can be any: only the directory's are known then.
    attributes: settings.identity.trustedClaims.includes('attributes') ? undefined : new Set([...directory.values()].flatMap(entry => Object.keys(entry.attributes)))
  };
  return {
    settings,
    directory,
    datasets,
    policies: loadPolicies(dir, builtins.policies(), known),
    inputs: { files, directories: [join(dir, 'catalog'), join(dir, 'policies')] }
  };
}
