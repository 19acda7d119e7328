/**
 * The Trino engine kind: connections `kind: trino` in warden.yaml, catalog sources
 * `{ format: trino, connection, table: schema.table | catalog.schema.table }`.
 */
import { Type } from '@sinclair/typebox';
import { ENV_NAME, EngineKind } from '../engine';
import { trinoDialect } from './dialect';
import { TrinoEngine } from './engine';
import { TrinoConnection } from './protocol';

export { trinoDialect } from './dialect';
export { TrinoEngine } from './engine';
export { TrinoClient, type TrinoConnection, TrinoQueryError, describeTrino } from './protocol';
export { executeStatement } from './statement';

/** Trino's names: letters, digits and _ (it lower-cases them), not starting with a digit. */
const NAME = '[A-Za-z_][A-Za-z0-9_]*';

const connectionSchema = Type.Object(
  {
    url: Type.String({ pattern: '^https?://[^/?#]+/?$', description: 'the coordinator, https://host:port' }),
    user: Type.String({ minLength: 1 }),
    password_env: Type.Optional(ENV_NAME),
    ca_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM certificates trusted for the coordinator, besides the system ones' })),
    catalog: Type.String({ pattern: `^${NAME}$`, description: 'the catalog of tables named schema.table' }),
    request_timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000, description: 'time allowed to each HTTP request to Trino' })),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, description: 'attempts after the first when Trino is unreachable or busy' }))
  },
  { additionalProperties: false }
);

export const trinoKind: EngineKind<TrinoConnection, typeof connectionSchema> = {
  kind: 'trino',
  dialect: trinoDialect,
  connectionSchema,
  tableSchema: Type.String({ description: `schema.table or catalog.schema.table (letters, digits and _; not starting with a digit)`, pattern: `^${NAME}\\.${NAME}(\\.${NAME})?$` }),

  connection(name, yaml, { readFile, fail, passwordFromEnv }) {
    const password = passwordFromEnv(yaml.password_env);
    // Basic authentication in clear text would give the password to anyone on the path.
    if (password && !yaml.url.startsWith('https://')) fail(['url'], `connection ${name}: a password is only sent over HTTPS: use an https:// url`);
    let ca: string | undefined;
    if (yaml.ca_file) {
      try {
        ca = readFile(yaml.ca_file);
      } catch (error) {
        fail(['ca_file'], `connection ${name}: cannot read ca_file: ${(error as Error).message}`);
      }
    }
    return {
      kind: 'trino',
      name,
      url: yaml.url.replace(/\/$/, ''),
      user: yaml.user,
      password,
      ca,
      catalog: yaml.catalog,
      requestTimeoutMs: yaml.request_timeout_ms ?? 30_000,
      retries: yaml.retries ?? 2
    };
  },

  engine: connection => new TrinoEngine(connection)
};
