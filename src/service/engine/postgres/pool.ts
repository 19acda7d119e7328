/** A PostgreSQL connection's settings and pools: shared by the engine and the audit sink. */
import pg from 'pg';
import { ConnectionSettings } from '../engine';
import { quoteIdent } from '../sql';

export type SslMode = 'disable' | 'require' | 'verify-full';

/** A PostgreSQL server and login, from `connections` in warden.yaml. */
export interface PostgresConnection extends ConnectionSettings {
  kind: 'postgres';
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
  /** Each sort or hash of a query spills past this (`work_mem`); the server's setting when absent. */
  workMemMib?: number;
  /** Longest a statement runs (`statement_timeout`, 0: no limit); each fetch of a scan is one. */
  statementTimeoutMs: number;
}

export function isPostgresConnection(connection: ConnectionSettings): connection is PostgresConnection {
  return connection.kind === 'postgres';
}

/**
 * Session settings every engine query relies on: text casts of dates and timestamps (in
 * masks) read as ISO in UTC, and floats print shortest-exact, as DuckDB's do.
 */
const SESSION_OPTIONS = '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=1';

/** The session settings of a connection: the ones above, and its resource limits. */
function sessionOptions(connection: PostgresConnection): string {
  const limits = [`-c statement_timeout=${connection.statementTimeoutMs}`];
  if (connection.workMemMib !== undefined) limits.push(`-c work_mem=${connection.workMemMib}MB`);
  return `${SESSION_OPTIONS} ${limits.join(' ')}`;
}

export function poolConfig(connection: PostgresConnection, max: number): pg.PoolConfig {
  return {
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    password: connection.password,
    ssl: connection.ssl === 'disable' ? false : { rejectUnauthorized: connection.ssl === 'verify-full', ca: connection.sslCa },
    options: sessionOptions(connection),
    application_name: 'warden',
    max,
    // A database that does not answer fails the request rather than hanging it.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000
  };
}


/** `schema.table` or `table`, each part quoted. */
export function qualifiedName(table: string): string {
  return table.split('.').map(quoteIdent).join('.');
}

/** Where a connection points, for messages (never the password). */
export function describeConnection(connection: PostgresConnection): string {
  return `connection ${connection.name} (${connection.user}@${connection.host}:${connection.port}/${connection.database})`;
}
