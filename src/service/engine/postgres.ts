/**
 * The PostgreSQL adapter: one connection pool per configured connection. A compiled scan
 * runs whole inside PostgreSQL (row filters, masks, the caller's projection, filter and
 * limit) in a read-only transaction, and its rows come back through a server-side cursor a
 * fetch at a time, so memory stays bounded by one fetch and one Arrow batch.
 */
import pg from 'pg';
import Cursor from 'pg-cursor';
import { PostgresConnection, Source } from '../config/types';
import { ArrowKind, ArrowValue, ColumnBuilder, recordBatch, scanSchema } from './arrow';
import { CompiledScan, SourceColumn } from './compile';
import { postgresDialect } from './dialect';
import { ArrowResult, QueryEngine, SourceError } from './engine';
import { Params, quoteIdent } from './sql';

/** Rows per fetch from the cursor, and so per Arrow record batch. */
const FETCH_ROWS = 16_384;

/**
 * Session settings every engine query relies on: text casts of dates and timestamps (in
 * masks) read as ISO in UTC, and floats print shortest-exact, as DuckDB's do.
 */
const SESSION_OPTIONS = '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=1';

export function poolConfig(connection: PostgresConnection, max: number): pg.PoolConfig {
  return {
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    password: connection.password,
    ssl: connection.ssl === 'disable' ? false : { rejectUnauthorized: connection.ssl === 'verify-full', ca: connection.sslCa },
    options: SESSION_OPTIONS,
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

const { builtins } = pg.types;
const KIND_BY_TYPE_OID = new Map<number, ArrowKind>([
  [builtins.BOOL, 'bool'],
  [builtins.INT2, 'int16'],
  [builtins.INT4, 'int32'],
  [builtins.INT8, 'int64'],
  [builtins.FLOAT4, 'float32'],
  [builtins.FLOAT8, 'float64'],
  // As DuckDB's DECIMAL: exact decimals become doubles on the wire.
  [builtins.NUMERIC, 'float64'],
  [builtins.DATE, 'date'],
  [builtins.TIMESTAMP, 'timestamp'],
  [builtins.TIMESTAMPTZ, 'timestamptz']
]);

/**
 * Every value arrives as PostgreSQL's text and is decoded here for its Arrow kind: no Date
 * objects, so nothing is shifted by the service's local time zone. Other types stay text.
 */
const RAW_TEXT = { getTypeParser: () => (text: string) => text } as unknown as pg.CustomTypesConfig;

/** DuckDB's day numbers for infinite dates and timestamps, so both engines send the same values. */
const INFINITE_DAYS = 2_147_483_647;
const INFINITE_MICROS = 9_223_372_036_854_775_807n;

/** Days since 1970-01-01 of a proleptic Gregorian date (any year, astronomical numbering). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

const DATE = /^(\d+)-(\d\d)-(\d\d)( BC)?$/;
const TIMESTAMP = /^(\d+)-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?( BC)?$/;

function days(year: string, month: string, day: string, bc: string | undefined): number {
  // PostgreSQL counts 1 BC, 2 BC...; astronomically those are years 0, -1...
  return daysFromCivil(bc ? 1 - Number(year) : Number(year), Number(month), Number(day));
}

function decodeDate(text: string): number {
  if (text === 'infinity') return INFINITE_DAYS;
  if (text === '-infinity') return -INFINITE_DAYS;
  const match = DATE.exec(text);
  if (!match) throw new Error(`unexpected date from PostgreSQL: ${text}`);
  return days(match[1], match[2], match[3], match[4]);
}

function decodeTimestamp(text: string): bigint {
  if (text === 'infinity') return INFINITE_MICROS;
  if (text === '-infinity') return -INFINITE_MICROS;
  const match = TIMESTAMP.exec(text);
  if (!match) throw new Error(`unexpected timestamp from PostgreSQL: ${text}`);
  const [, year, month, day, hours, minutes, seconds, fraction = '', sign, offsetHours = '0', offsetMinutes = '0', offsetSeconds = '0', bc] = match;
  const offset = (sign === '-' ? -1 : 1) * (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60 + Number(offsetSeconds));
  const secondsSinceEpoch = days(year, month, day, bc) * 86_400 + Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds) - offset;
  return BigInt(secondsSinceEpoch) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
}

function decode(text: string | null, kind: ArrowKind): ArrowValue {
  if (text === null) return null;
  switch (kind) {
    case 'bool':
      return text === 't';
    case 'int64':
      return BigInt(text);
    case 'int16':
    case 'int32':
    case 'float32':
    case 'float64':
      return Number(text);
    case 'date':
      return decodeDate(text);
    case 'timestamp':
    case 'timestamptz':
      return decodeTimestamp(text);
    default:
      return text;
  }
}

function read(cursor: Cursor, rows: number): Promise<{ rows: (string | null)[][]; fields: pg.FieldDef[] }> {
  return new Promise((resolve, reject) => {
    cursor.read(rows, (error, result, meta) => (error ? reject(error) : resolve({ rows: result, fields: meta.fields })));
  });
}

export class PostgresEngine implements QueryEngine {
  readonly dialect = postgresDialect;
  private readonly pool: pg.Pool;

  constructor(readonly connection: PostgresConnection) {
    this.pool = new pg.Pool(poolConfig(connection, connection.poolSize));
    // An idle connection that breaks (server restart) must not take the process down; the
    // pool replaces it on the next query.
    this.pool.on('error', error => console.error(`warden: ${describeConnection(connection)}: idle connection lost: ${error.message}`));
  }

  relation(source: Source, _params: Params): string {
    if (source.format !== 'postgres') {
      throw new SourceError(`PostgreSQL does not read ${source.format} sources`);
    }
    return qualifiedName(source.table);
  }

  async describe(source: Source): Promise<SourceColumn[]> {
    const relation = this.relation(source, new Params());
    const where = describeConnection(this.connection);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw new SourceError(`${where}: ${(error as Error).message}`);
    }
    try {
      const { rows } = await client.query<SourceColumn>(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        [relation]
      );
      if (rows.length === 0) {
        throw new SourceError(`${where}: no table or view ${relation} (or user ${this.connection.user} cannot see it)`);
      }
      // Missing privileges show now, at start-up, rather than at the first scan.
      await client.query(`SELECT * FROM ${relation} LIMIT 0`);
      return rows;
    } catch (error) {
      throw error instanceof SourceError ? error : new SourceError(`${where}: ${(error as Error).message}`);
    } finally {
      client.release();
    }
  }

  async stream(scan: CompiledScan, metadata: Map<string, string>): Promise<ArrowResult> {
    const client = await this.pool.connect();
    const cursor = new Cursor(scan.sql, scan.params, { rowMode: 'array', types: RAW_TEXT });
    let first;
    try {
      // Read-only: nothing a compiled query reaches (a view, a function) can write.
      await client.query('BEGIN TRANSACTION READ ONLY');
      client.query(cursor);
      first = await read(cursor, FETCH_ROWS);
    } catch (error) {
      client.release(error as Error);
      throw error;
    }
    const kinds = first.fields.map(field => KIND_BY_TYPE_OID.get(field.dataTypeID) ?? 'utf8');
    const schema = scanSchema(scan.columns, kinds, metadata);
    let cancelled = false;
    return {
      schema,
      // Stops at the next fetch boundary: at most FETCH_ROWS more rows are read.
      cancel: () => {
        cancelled = true;
      },
      batches: (async function* () {
        const builders = kinds.map(kind => new ColumnBuilder(kind, Math.max(first.rows.length, 1)));
        let failure: Error | undefined;
        try {
          let fetched = first.rows;
          while (fetched.length > 0 && !cancelled) {
            for (const row of fetched) {
              for (let c = 0; c < builders.length; c++) builders[c].append(decode(row[c], kinds[c]));
            }
            yield recordBatch(schema, builders);
            fetched = fetched.length < FETCH_ROWS || cancelled ? [] : (await read(cursor, FETCH_ROWS)).rows;
          }
        } catch (error) {
          failure = error as Error;
          throw error;
        } finally {
          await closeCursor(client, cursor, failure);
        }
      })()
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Ends the cursor and its transaction and returns the connection; a broken one is discarded. */
async function closeCursor(client: pg.PoolClient, cursor: Cursor, failure: Error | undefined): Promise<void> {
  if (failure) {
    client.release(failure);
    return;
  }
  try {
    await cursor.close();
    await client.query('ROLLBACK');
    client.release();
  } catch (error) {
    client.release(error as Error);
  }
}
