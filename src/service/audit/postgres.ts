/**
 * The PostgreSQL audit sink: records go to one table that every service replica shares.
 * A batch of concurrent records is one INSERT, committed before any of their writers
 * resumes; if it fails, they fail (fail closed). The sink has its own small pool, so audit
 * writes never queue behind long scans on the query pools.
 */
import pg from 'pg';
import { PostgresConnection, describeConnection, poolConfig, qualifiedName } from '../engine/postgres/pool';
import { quoteIdent } from '../engine/sql';
import { AuditSink, GroupCommit } from './log';
import { AUDIT_COLUMNS, AuditRecord, storable } from './record';

/** PostgreSQL types of the audit columns (AUDIT_COLUMNS gives DuckDB's). */
const PG_TYPES: Record<string, string> = { TIMESTAMPTZ: 'timestamp with time zone', VARCHAR: 'text', BIGINT: 'bigint' };
const REQUIRED = new Set(['time', 'request_id', 'event', 'client', 'action', 'outcome']);
/** Columns that audit tables created by earlier versions lack. */
const ADDED_LATER = new Set(['actual_outcome', 'actual_reason', 'raw_values']);

/**
 * Whether PostgreSQL refused a record's content (data exception, constraint violation: SQLSTATE
 * classes 22 and 23) rather than failing as a whole (connection, disk, permissions).
 */
function refusesRecord(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

/** A readiness probe answers within this, or the sink counts as not writable. */
const PROBE_TIMEOUT_MS = 3000;

export class PostgresAuditSink implements AuditSink {
  private readonly pool: pg.Pool;
  /** Its own connection for readiness probes, so that one never waits behind a commit. */
  private probes?: pg.Pool;
  private readonly relation: string;
  private readonly insert: string;
  private readonly commits = new GroupCommit(
    records => this.pool.query(this.insert, this.columnArrays(records)).then(() => undefined),
    error => `audit table ${this.table} (${describeConnection(this.connection)}) cannot be written: ${error.message}`,
    refusesRecord
  );

  constructor(
    private readonly connection: PostgresConnection,
    private readonly table: string
  ) {
    // One connection: commits are sequential anyway, each carrying every record queued meanwhile.
    this.pool = new pg.Pool({ ...poolConfig(connection, 1), statement_timeout: 10_000 });
    this.pool.on('error', error => console.error(`warden: audit ${describeConnection(connection)}: idle connection lost: ${error.message}`));
    // A commit must be durable when INSERT returns; only `off` would not be.
    this.pool.on('connect', client => {
      client.query("SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') = 'off'").catch(() => undefined);
    });
    this.relation = qualifiedName(table);
    // One statement for any number of records: one array parameter per column.
    const columns = AUDIT_COLUMNS.map(column => quoteIdent(column.name));
    const arrays = AUDIT_COLUMNS.map((column, i) => `$${i + 1}::${PG_TYPES[column.type]}[]`);
    this.insert = `INSERT INTO ${this.relation} (${columns.join(', ')}) SELECT * FROM unnest(${arrays.join(', ')})`;
  }

  /**
   * Creates the table if it is missing (replicas starting together take turns under an
   * advisory lock), then checks it has the audit columns, so start-up fails if it cannot work.
   */
  async open(): Promise<void> {
    const client = await this.pool.connect().catch(error => {
      throw new Error(`audit sink ${describeConnection(this.connection)}: ${(error as Error).message}`);
    });
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`warden audit ${this.relation}`]);
      const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS exists', [this.relation]);
      if (exists.rows[0].exists) {
        await this.addMissingColumns(client);
      } else {
        const columns = AUDIT_COLUMNS.map(
          column => `${quoteIdent(column.name)} ${PG_TYPES[column.type]}${REQUIRED.has(column.name) ? ' NOT NULL' : ''}`
        );
        const name = this.table.split('.').pop()!;
        await client.query(`CREATE TABLE ${this.relation} (${columns.join(', ')})`);
        // Compliance reads by time; everyone else reads their own records.
        await client.query(`CREATE INDEX ${quoteIdent(`${name}_time_idx`)} ON ${this.relation} (${quoteIdent('time')})`);
        await client.query(`CREATE INDEX ${quoteIdent(`${name}_user_idx`)} ON ${this.relation} (${quoteIdent('user_name')}, ${quoteIdent('time')})`);
      }
      await client.query('COMMIT');
      await this.checkColumns(client);
      client.release();
    } catch (error) {
      client.release(error as Error);
      throw new Error(`audit table ${this.table} (${describeConnection(this.connection)}): ${(error as Error).message}`);
    }
  }

  private async columnTypes(client: pg.PoolClient): Promise<Map<string, string>> {
    const { rows } = await client.query<{ name: string; type: string }>(
      `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
       WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
      [this.relation]
    );
    return new Map(rows.map(row => [row.name, row.type]));
  }

  /**
   * A table made by an earlier version gets the columns added since (NULL in its rows), but
   * only if it has every other audit column: a table of another shape is left alone (and refused).
   */
  private async addMissingColumns(client: pg.PoolClient): Promise<void> {
    const actual = await this.columnTypes(client);
    const missing = AUDIT_COLUMNS.filter(column => !actual.has(column.name));
    if (missing.length === 0 || !missing.every(column => ADDED_LATER.has(column.name))) return;
    for (const column of missing) {
      await client.query(`ALTER TABLE ${this.relation} ADD COLUMN ${quoteIdent(column.name)} ${PG_TYPES[column.type]}`);
    }
  }

  private async checkColumns(client: pg.PoolClient): Promise<void> {
    const actual = await this.columnTypes(client);
    const wrong = AUDIT_COLUMNS.filter(column => actual.get(column.name) !== PG_TYPES[column.type]).map(
      column => `${column.name} ${PG_TYPES[column.type]} (${actual.has(column.name) ? `is ${actual.get(column.name)}` : 'missing'})`
    );
    if (wrong.length) {
      throw new Error(`the table exists but lacks the audit columns ${wrong.join(', ')}`);
    }
  }

  write(record: AuditRecord): Promise<void> {
    return this.commits.write(record);
  }

  private columnArrays(records: AuditRecord[]): unknown[][] {
    const stored = records.map(storable);
    return AUDIT_COLUMNS.map(column => stored.map(record => record[column.name]));
  }

  /** The table answers a query within PROBE_TIMEOUT_MS and the last commit worked. */
  async ready(): Promise<void> {
    if (!this.probes) {
      this.probes = new pg.Pool({ ...poolConfig(this.connection, 1), connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS });
      // A probe connection lost while idle is found by the next probe.
      this.probes.on('error', () => undefined);
    }
    await this.probes.query(`SELECT 1 FROM ${this.relation} LIMIT 0`);
  }

  async close(): Promise<void> {
    await this.probes?.end();
    await this.commits.idle();
    await this.pool.end();
  }
}

