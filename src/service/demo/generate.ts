/**
 * The demo lake: deterministic clinical-trial and commercial datasets, a config directory
 * (catalog, policies, directory of personas) and an empty audit log. Generated inside DuckDB
 * from hashes of the row number, so the same size always gives the same bytes, at any scale.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface DemoOptions {
  /** Output directory: gets lake/, config/ and audit/. */
  out: string;
  /** Rows of the main trial dataset; the others scale from it. */
  rows: number;
  /** Rows of the other datasets instead (a large benchmark lake needs only the main one). */
  otherRows?: number;
  /** Read the trial datasets from a Trino lake instead of the files (loaded by trino-lake.ts with the same rows). */
  trino?: TrinoDemoConnection;
}

/** The `lake` connection of warden.yaml when the trials are read from Trino (scripts/trino/cluster.sh). */
export interface TrinoDemoConnection {
  url: string;
  user: string;
  /** The environment variable holding the service account's password. */
  passwordEnv: string;
  caFile: string;
  catalog: string;
}

/** The trial files, and the tables of a lake catalog they load into (the July 2020 trial partitioned by country). */
export const DEMO_TRIALS = [
  { file: 'drug_xyz/trial_july2020.parquet', format: 'parquet', table: 'drug_xyz.trial_july2020', partitionedBy: ['country'] },
  { file: 'drug_xyz/trial_march2021.csv', format: 'csv', table: 'drug_xyz.trial_march2021', partitionedBy: [] },
  { file: 'drug_abc/trial_jan2022.jsonl', format: 'jsonl', table: 'drug_abc.trial_jan2022', partitionedBy: [] }
];

/** Points the demo config's trial datasets at the Trino lake: a `lake` connection, `format: trino` sources. */
function readTrialsFromTrino(configDir: string, trino: TrinoDemoConnection): void {
  const settings = { kind: 'trino', url: trino.url, user: trino.user, password_env: trino.passwordEnv, ca_file: trino.caFile, catalog: trino.catalog };
  appendFileSync(join(configDir, 'warden.yaml'), `connections:\n  lake: ${JSON.stringify(settings)}\n`);
  const catalogFile = join(configDir, 'catalog', 'clinical.yaml');
  let catalog = readFileSync(catalogFile, 'utf8');
  for (const trial of DEMO_TRIALS) {
    const fileSource = `source: { format: ${trial.format}, path: ${trial.file} }`;
    if (!catalog.includes(fileSource)) throw new Error(`${catalogFile} has no "${fileSource}"`);
    catalog = catalog.replace(fileSource, `source: { format: trino, connection: lake, table: ${trial.table} }`);
  }
  writeFileSync(catalogFile, catalog);
}

const FIRST = ['Alice', 'Bruno', 'Chen', 'Dana', 'Emeka', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Julia', 'Kenji', 'Lena', 'Mateo', 'Nora', 'Omar', 'Priya', 'Quinn', 'Rosa', 'Sven', 'Tara'];
const LAST = ['Anders', 'Baker', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Hoffmann', 'Ito', 'Jensen', 'Kowalski', 'Lopez', 'Moreau', 'Nakamura', 'Okafor', 'Petrov', 'Rossi', 'Schmidt', 'Tanaka', 'Weber'];
const COUNTRIES = ['US', 'US', 'US', 'DE', 'FR', 'UK', 'JP', 'CA'];
const ADVERSE = ['headache', 'nausea', 'fatigue', 'dizziness', 'rash'];

function list(values: string[]): string {
  return `[${values.map(value => `'${value}'`).join(', ')}]`;
}

/** `pick(values, salt)`: a deterministic choice per row `i`. */
function pick(values: string[], salt: string): string {
  return `list_element(${list(values)}, CAST(hash(i, '${salt}') % ${values.length} AS INTEGER) + 1)`;
}

function trialSql(rows: number, startDate: string, salt: string): string {
  const first = pick(FIRST, `${salt}first`);
  const last = pick(LAST, `${salt}last`);
  return `
    SELECT
      printf('P%07d', i) AS participant_id,
      ${first} || ' ' || ${last} AS name,
      printf('%03d-%02d-%04d', 100 + hash(i, '${salt}s1') % 800, 10 + hash(i, '${salt}s2') % 89, 1000 + hash(i, '${salt}s3') % 8999) AS ssn,
      DATE '1940-01-01' + CAST(hash(i, '${salt}dob') % 22000 AS INTEGER) AS date_of_birth,
      lower(${first}) || '.' || lower(${last}) || i || '@' || ${pick(['example.com', 'mail.example.org', 'clinic.example.net'], `${salt}dom`)} AS email,
      ${pick(COUNTRIES, `${salt}country`)} AS country,
      printf('Site-%02d', 1 + hash(i, '${salt}site') % 12) AS site,
      ${pick(['placebo', 'treatment'], `${salt}arm`)} AS arm,
      ${pick(['improved', 'improved', 'stable', 'worsened', 'withdrawn'], `${salt}outcome`)} AS outcome,
      CASE WHEN hash(i, '${salt}ae') % 3 = 0 THEN NULL ELSE ${pick(ADVERSE, `${salt}aekind`)} END AS adverse_events,
      DATE '${startDate}' + CAST(hash(i, '${salt}enrol') % 28 AS INTEGER) AS enrolled_on
    FROM range(1, ${rows + 1}) AS t(i)`;
}

function productionSql(rows: number): string {
  return `
    SELECT
      printf('B%06d', i) AS batch_id,
      ${pick(['Basel', 'Cork', 'Durham', 'Osaka'], 'plant')} AS plant,
      ${pick(['XYZ-10mg', 'XYZ-20mg', 'ABC-5mg'], 'product')} AS product,
      CAST(1000 + hash(i, 'units') % 9000 AS INTEGER) AS units,
      round(90 + (hash(i, 'yield') % 1000) / 100.0, 2) AS yield_pct,
      round(10000 + (hash(i, 'cost') % 5000000) / 100.0, 2) AS cost_usd,
      DATE '2021-01-01' + CAST(hash(i, 'day') % 1000 AS INTEGER) AS produced_on,
      lower(${pick(FIRST, 'sup')}) || '@plant.example.com' AS supervisor_email
    FROM range(1, ${rows + 1}) AS t(i)`;
}

export async function generateDemo(options: DemoOptions): Promise<{ configDir: string; lakeDir: string }> {
  const out = resolve(options.out);
  const lakeDir = join(out, 'lake');
  const configDir = join(out, 'config');
  for (const dir of [join(lakeDir, 'drug_xyz'), join(lakeDir, 'drug_abc'), join(lakeDir, 'commercial'), join(configDir, 'catalog'), join(configDir, 'policies'), join(out, 'audit')]) {
    mkdirSync(dir, { recursive: true });
  }
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const rows = options.rows;
  const others = (fraction: number) => Math.max(10, options.otherRows ?? Math.round(rows * fraction));
  // Rows come out in the order of `i` (DuckDB preserves insertion order): no sort, which at
  // 100,000,000 rows would hold the whole lake in memory or spill it.
  const copy = (sql: string, path: string, format: string) =>
    connection.run(`COPY (${sql}) TO '${path.replace(/'/g, "''")}' (${format})`);
  try {
    await copy(trialSql(rows, '2020-07-01', 'jul20'), join(lakeDir, 'drug_xyz/trial_july2020.parquet'), 'FORMAT parquet');
    await copy(trialSql(others(1 / 2), '2021-03-01', 'mar21'), join(lakeDir, 'drug_xyz/trial_march2021.csv'), 'FORMAT csv, HEADER true');
    await copy(trialSql(others(1 / 4), '2022-01-01', 'jan22'), join(lakeDir, 'drug_abc/trial_jan2022.jsonl'), 'FORMAT json');
    await copy(productionSql(others(1 / 2)), join(lakeDir, 'commercial/production_batches.parquet'), 'FORMAT parquet');
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  cpSync(join(__dirname, 'config'), configDir, { recursive: true });
  if (options.trino) readTrialsFromTrino(configDir, options.trino);
  const keyFile = join(configDir, 'mask.key');
  if (!existsSync(keyFile)) {
    writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  }
  return { configDir, lakeDir };
}
