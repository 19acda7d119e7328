/**
 * The PostgreSQL engine kind: connections `kind: postgres` in warden.yaml (the default when a
 * connection names no kind), catalog sources `{ format: postgres, connection, table }`.
 */
import { Type } from '@sinclair/typebox';
import { ENV_NAME, EngineKind } from '../engine';
import { postgresDialect } from './dialect';
import { PostgresEngine } from './engine';
import { PostgresConnection, SslMode } from './pool';

export { postgresDialect } from './dialect';
export { PostgresEngine } from './engine';
export { type PostgresConnection, describeConnection, isPostgresConnection, poolConfig, qualifiedName } from './pool';


const connectionSchema = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    database: Type.String({ minLength: 1 }),
    user: Type.String({ minLength: 1 }),
    password_env: Type.Optional(ENV_NAME),
    ssl: Type.Optional(Type.Unsafe<SslMode>({ enum: ['disable', 'require', 'verify-full'] })),
    ssl_ca_file: Type.Optional(Type.String({ minLength: 1 })),
    pool_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    work_mem_mib: Type.Optional(Type.Integer({ minimum: 1, maximum: 2097151, description: 'memory each sort or hash of a query may use before it spills to disk (PostgreSQL work_mem), in MiB' })),
    statement_timeout_seconds: Type.Optional(Type.Number({ minimum: 0, maximum: 2147483, description: 'longest a statement may run (each fetch of a scan is one), in seconds; 0 for no limit' }))
  },
  { additionalProperties: false }
);

export const postgresKind: EngineKind<PostgresConnection, typeof connectionSchema> = {
  kind: 'postgres',
  dialect: postgresDialect,
  connectionSchema,
  tableSchema: Type.String({
    description: 'a table name or schema.table (letters, digits, _ and $; not starting with a digit)',
    pattern: '^[A-Za-z_][A-Za-z0-9_$]*(\\.[A-Za-z_][A-Za-z0-9_$]*)?$'
  }),

  connection(name, yaml, { readFile, fail, passwordFromEnv }) {
    const password = passwordFromEnv(yaml.password_env);
    const ssl = yaml.ssl ?? 'disable';
    let sslCa: string | undefined;
    if (yaml.ssl_ca_file) {
      if (ssl !== 'verify-full') {
        fail(['ssl_ca_file'], `connection ${name}: ssl_ca_file needs ssl: verify-full (with ssl: ${ssl} the certificate would not be checked)`);
      }
      try {
        sslCa = readFile(yaml.ssl_ca_file);
      } catch (error) {
        fail(['ssl_ca_file'], `connection ${name}: cannot read ssl_ca_file: ${(error as Error).message}`);
      }
    }
    return {
      kind: 'postgres',
      name,
      host: yaml.host,
      port: yaml.port ?? 5432,
      database: yaml.database,
      user: yaml.user,
      password,
      ssl,
      sslCa,
      poolSize: yaml.pool_size ?? 10,
      workMemMib: yaml.work_mem_mib,
      statementTimeoutMs: Math.round((yaml.statement_timeout_seconds ?? 600) * 1000)
    };
  },

  engine: connection => new PostgresEngine(connection)
};
