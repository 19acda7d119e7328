/**
 * Loads tables into a Trino lake catalog (Iceberg on S3) from DuckDB: the demo lake's trial
 * tables, and the tests' shared fixture. Rows go in as INSERTs whose every value is a bound
 * parameter cast to the column's Trino type, so what DuckDB holds is what Trino stores.
 *
 *   tsx src/service/demo/trino-lake.ts --rows 2000     (with WARDEN_TRINO_* from cluster.env)
 */
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Params, SqlValue, quoteIdent } from '../engine/sql';
import { TrinoClient, TrinoConnection } from '../engine/trino';
import { DEMO_TRIALS, TrinoDemoConnection, generateDemo } from './generate';

/** A setting of the cluster scripts/trino/cluster.sh started (its cluster.env, exported). */
function clusterSetting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: start a cluster with scripts/trino/cluster.sh and export its cluster.env`);
  return value;
}

/**
 * The Trino connection of the running cluster, as its service (read-only) user, its loader
 * (writes the lake, sees every query) or an analyst (SQL on Trino's system catalog only).
 */
export function trinoConnectionFromEnv(role: 'service' | 'loader' | 'analyst'): TrinoConnection {
  const prefix = role === 'service' ? 'WARDEN_TRINO_' : `WARDEN_TRINO_${role.toUpperCase()}_`;
  return {
    kind: 'trino',
    name: `lake_${role}`,
    url: clusterSetting('WARDEN_TRINO_URL'),
    user: clusterSetting(`${prefix}USER`),
    password: clusterSetting(`${prefix}PASSWORD`),
    ca: readFileSync(clusterSetting('WARDEN_TRINO_CA'), 'utf8'),
    catalog: clusterSetting('WARDEN_TRINO_CATALOG'),
    requestTimeoutMs: 30_000,
    retries: 2
  };
}

/** The demo's `lake` connection to the running cluster, as the service account (password in WARDEN_TRINO_PASSWORD). */
export function trinoDemoConnectionFromEnv(): TrinoDemoConnection {
  clusterSetting('WARDEN_TRINO_PASSWORD');
  return {
    url: clusterSetting('WARDEN_TRINO_URL'),
    user: clusterSetting('WARDEN_TRINO_USER'),
    passwordEnv: 'WARDEN_TRINO_PASSWORD',
    caFile: clusterSetting('WARDEN_TRINO_CA'),
    catalog: clusterSetting('WARDEN_TRINO_CATALOG')
  };
}

/** DuckDB types and the Trino (Iceberg) types they are stored as. */
function trinoType(duckType: string): string {
  const type = duckType.toUpperCase();
  const decimal = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(type);
  if (decimal) return `decimal(${decimal[1]}, ${decimal[2]})`;
  if (type.startsWith('VARCHAR')) return 'varchar';
  if (type === 'TINYINT' || type === 'SMALLINT' || type === 'INTEGER') return 'integer';
  if (type === 'BIGINT') return 'bigint';
  if (type === 'DOUBLE') return 'double';
  if (type === 'FLOAT') return 'real';
  if (type === 'BOOLEAN') return 'boolean';
  if (type === 'DATE') return 'date';
  if (type === 'TIMESTAMP') return 'timestamp(6)';
  if (type === 'TIMESTAMP WITH TIME ZONE') return 'timestamp(6) with time zone';
  throw new Error(`no Trino type for DuckDB's ${duckType}`);
}

/** DuckDB SQL giving a column as text that Trino's CAST reads back to the same value. */
function asText(column: string, duckType: string): string {
  const name = quoteIdent(column);
  if (duckType.toUpperCase() === 'TIMESTAMP WITH TIME ZONE') return `CAST(timezone('UTC', ${name}) AS VARCHAR) || ' UTC'`;
  return `CAST(${name} AS VARCHAR)`;
}

/** DuckDB writes non-finite doubles as nan/inf; Trino (Java) reads NaN/Infinity. */
const JAVA_SPELLING: Record<string, string> = { nan: 'NaN', inf: 'Infinity', '-inf': '-Infinity' };

export interface LoadOptions {
  /** Columns the Iceberg table is partitioned by (identity partitions). */
  partitionedBy?: string[];
  /** Rows per INSERT statement. */
  rowsPerInsert?: number;
}

/**
 * Replaces `table` (`schema.table` in the connection's catalog) with the rows of DuckDB's
 * `select`; returns the number of rows loaded.
 */
export async function copyIntoTrino(trino: TrinoClient, duck: DuckDBConnection, select: string, table: string, options: LoadOptions = {}): Promise<number> {
  const [schema, name] = table.split('.');
  const target = [trino.connection.catalog, schema, name].map(quoteIdent).join('.');
  const described = (await duck.runAndReadAll(`DESCRIBE ${select}`)).getRowObjects() as { column_name: string; column_type: string }[];
  const columns = described.map(column => ({ name: column.column_name, duckType: column.column_type, type: trinoType(column.column_type) }));

  const run = async (sql: string, params: SqlValue[] = []) => {
    for await (const _row of trino.rows(sql, params, 'warden loader'));
  };
  await run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(trino.connection.catalog)}.${quoteIdent(schema)}`);
  await run(`DROP TABLE IF EXISTS ${target}`);
  const partitioning = options.partitionedBy?.length ? ` WITH (partitioning = ARRAY[${options.partitionedBy.map(column => `'${column.replace(/'/g, "''")}'`).join(', ')}])` : '';
  await run(`CREATE TABLE ${target} (${columns.map(column => `${quoteIdent(column.name)} ${column.type}`).join(', ')})${partitioning}`);

  const reader = await duck.runAndReadAll(`SELECT ${columns.map(column => asText(column.name, column.duckType)).join(', ')} FROM (${select})`);
  const rows = reader.getRows() as (string | null)[][];
  const perInsert = options.rowsPerInsert ?? 1000;
  for (let start = 0; start < rows.length; start += perInsert) {
    const params = new Params();
    const values = rows.slice(start, start + perInsert).map(
      row => `(${row.map((value, c) => `CAST(${params.add(value === null ? null : (JAVA_SPELLING[value] ?? value))} AS ${columns[c].type})`).join(', ')})`
    );
    await run(`INSERT INTO ${target} VALUES ${values.join(', ')}`, params.values);
  }
  return rows.length;
}

export async function loadDemoLake(trino: TrinoClient, rows: number): Promise<{ table: string; rows: number }[]> {
  const out = mkdtempSync(join(tmpdir(), 'warden-trino-demo-'));
  const instance = await DuckDBInstance.create(':memory:');
  const duck = await instance.connect();
  try {
    const { lakeDir } = await generateDemo({ out, rows });
    const loaded = [];
    for (const trial of DEMO_TRIALS) {
      const path = join(lakeDir, trial.file).replace(/'/g, "''");
      const read = { parquet: 'read_parquet', csv: 'read_csv', jsonl: 'read_json' }[trial.format];
      loaded.push({ table: trial.table, rows: await copyIntoTrino(trino, duck, `SELECT * FROM ${read}('${path}')`, trial.table, { partitionedBy: trial.partitionedBy }) });
    }
    return loaded;
  } finally {
    duck.closeSync();
    instance.closeSync();
    rmSync(out, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '2000' } } });
  const rows = Number(values.rows);
  if (!Number.isInteger(rows) || rows < 10) {
    console.error(`--rows must be a whole number >= 10, got "${values.rows}"`);
    process.exit(2);
  }
  const started = Date.now();
  const trino = new TrinoClient(trinoConnectionFromEnv('loader'));
  try {
    for (const { table, rows: count } of await loadDemoLake(trino, rows)) console.log(`loaded ${count} rows into ${trino.connection.catalog}.${table}`);
  } finally {
    trino.close();
  }
  console.log(`demo lake loaded into Trino in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1]?.endsWith('trino-lake.ts')) void main();
