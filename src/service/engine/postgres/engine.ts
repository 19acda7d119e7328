/**
 * The PostgreSQL adapter: one connection pool per configured connection. A compiled scan
 * runs whole inside PostgreSQL (row filters, masks, the caller's projection, filter and
 * limit) in a read-only transaction, and its rows come back through a server-side cursor a
 * fetch at a time, so memory stays bounded by one fetch and one Arrow batch.
 */
import pg from 'pg';
import Cursor from 'pg-cursor';
import { ColumnBuilder, recordBatch, scanSchema } from '../arrow';
import { CompiledScan } from '../compile';
import { ArrowResult, EngineFailure, QueryEngine, ScanCost, SourceError } from '../engine';
import { Source, SourceColumn, isConnectionSource } from '../source';
import { Params } from '../sql';
import { KIND_BY_TYPE_OID, RAW_TEXT, decode } from './decode';
import { postgresDialect } from './dialect';
import { diagnosePostgres } from './errors';
import { heavyNodes } from './plan';
import { PostgresConnection, describeConnection, poolConfig, qualifiedName } from './pool';

/** Rows per fetch from the cursor, and so per Arrow record batch. */
const FETCH_ROWS = 16_384;
/** Per row of a fetch, for the read-ahead a stream may hold (one fetch and its batch). */
const ROW_BYTES_ESTIMATE = 1024;

/** A readiness probe answers within this, or the engine counts as unavailable. */
const PROBE_TIMEOUT_MS = 3000;

function read(cursor: Cursor, rows: number): Promise<{ rows: (string | null)[][]; fields: pg.FieldDef[] }> {
  return new Promise((resolve, reject) => {
    cursor.read(rows, (error, result, meta) => (error ? reject(error) : resolve({ rows: result, fields: meta.fields })));
  });
}

export class PostgresEngine implements QueryEngine {
  readonly dialect = postgresDialect;
  private readonly pool: pg.Pool;
  /** Its own connection, so that a probe never waits behind the scans holding the pool. */
  private probes?: pg.Pool;

  constructor(readonly connection: PostgresConnection) {
    this.pool = new pg.Pool(poolConfig(connection, connection.poolSize));
    // An idle connection that breaks (server restart) must not take the process down; the
    // pool replaces it on the next query.
    this.pool.on('error', error => console.error(`warden: ${describeConnection(connection)}: idle connection lost: ${error.message}`));
  }

  relation(source: Source, _params: Params): string {
    if (!isConnectionSource(source) || source.format !== 'postgres') {
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

  /** From PostgreSQL's plan (`EXPLAIN (FORMAT JSON)`, with the values bound). Its memory is the database's: work_mem bounds each node. */
  async cost(scan: CompiledScan): Promise<ScanCost> {
    const client = await this.pool.connect();
    try {
      const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${scan.sql}`, scan.params);
      const rowsHeld = Math.min(FETCH_ROWS, Math.max(1, scan.limit ?? FETCH_ROWS));
      return { heavyOperators: heavyNodes(rows[0]['QUERY PLAN'], scan.limit), readAheadBytes: rowsHeld * ROW_BYTES_ESTIMATE };
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

  diagnose(error: unknown): EngineFailure {
    return diagnosePostgres(error);
  }

  async ready(): Promise<void> {
    if (!this.probes) {
      this.probes = new pg.Pool({ ...poolConfig(this.connection, 1), connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS });
      // A probe connection lost while idle is found by the next probe.
      this.probes.on('error', () => undefined);
    }
    await this.probes.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.probes?.end();
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
