/**
 * PostgreSQL, for real: a throwaway PostgreSQL 15 cluster; datasets pushed down to it with
 * every mask giving the same values as DuckDB on the same rows; Arrow from a server-side
 * cursor; the audit log in a PostgreSQL table, fail closed; two service processes sharing it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MASK_INDICATOR_PREFIX } from '../../common/api';
import { ConfigError } from '../config/load';
import { CompiledScan } from '../engine/compile';
import { PostgresConnection, PostgresEngine } from '../engine/postgres';
import { WardenService } from '../service';
import { RunningService, api, quietLogger, rows, scan, startService, tempDir, until } from './helpers';
import { COLUMNS, MASKS, PEOPLE_DDL, PEOPLE_ROWS, describeSchema, exactColumns, writeParityPolicies, writeParquet } from './parity-fixture';
import { PostgresCluster, startPostgres } from './postgres-cluster';

const PASSWORD = 'correct horse battery staple';
process.env.WARDEN_PG_PASSWORD = PASSWORD;

let cluster: PostgresCluster;
let lakeDir: string;
let keyFile: string;
let removeTemp: () => void;

interface ConfigOptions {
  /** Source of `parity.people`. */
  people: string;
  extraDatasets?: string;
  audit: string;
  password?: string;
}

function connectionYaml(name: string, database: string): string {
  return `  ${name}: { host: 127.0.0.1, port: ${cluster.port}, database: ${database}, user: warden, password_env: WARDEN_PG_PASSWORD, pool_size: 4 }\n`;
}

let configs = 0;
function writeConfig(options: ConfigOptions): string {
  const dir = join(lakeDir, '..', `config-${++configs}`);
  mkdirSync(join(dir, 'catalog'), { recursive: true });
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(
    join(dir, 'warden.yaml'),
    `data_roots: [${lakeDir}]\nidentity: { audience: warden, issuer: jupyter-server, hs256_secret_env: WARDEN_JWT_SECRET }\n` +
      `connections:\n${connectionYaml('clinical_pg', 'clinical')}${connectionYaml('audit_pg', 'audit')}` +
      `audit:\n${options.audit}\nmasking: { key_file: ${keyFile} }\n`
  );
  writeFileSync(
    join(dir, 'catalog', 'parity.yaml'),
    `datasets:\n  - name: parity.people\n    source: ${options.people}\n    columns:\n      - { name: ssn, tags: [pii] }\n${options.extraDatasets ?? ''}`
  );
  writeParityPolicies(dir);
  return dir;
}

const PG_PEOPLE = '{ format: postgres, connection: clinical_pg, table: public.people }';
const FILE_PEOPLE = '{ format: parquet, path: people.parquet }';
const PG_AUDIT = '  postgres: { connection: audit_pg, table: warden_audit }';

before(async () => {
  const temp = tempDir('pg-fixtures');
  removeTemp = temp.remove;
  lakeDir = join(temp.path, 'lake');
  mkdirSync(lakeDir);
  keyFile = join(temp.path, 'mask.key');
  writeFileSync(keyFile, 'parity-mask-key-0123456789abcdef\n');
  cluster = await startPostgres();
  await cluster.sql(`CREATE ROLE warden LOGIN PASSWORD '${PASSWORD}'`);
  await cluster.sql('CREATE DATABASE clinical');
  await cluster.sql('CREATE DATABASE audit OWNER warden');
  await cluster.sql(`${PEOPLE_DDL}; INSERT INTO people VALUES ${PEOPLE_ROWS.join(', ')}; GRANT SELECT ON people TO warden`, [], 'clinical');
  await cluster.sql("CREATE VIEW people_us AS SELECT * FROM people WHERE country = 'US'; GRANT SELECT ON people_us TO warden", [], 'clinical');
  await writeParquet(join(lakeDir, 'people.parquet'));
});

after(async () => {
  await cluster?.stop();
  removeTemp?.();
});

describe('a PostgreSQL table is governed exactly like a file', () => {
  let onFile: RunningService;
  let onPostgres: RunningService;

  before(async () => {
    onFile = await startService(writeConfig({ people: FILE_PEOPLE, audit: `  path: ${join(lakeDir, '..', 'audit.jsonl')}` }));
    onPostgres = await startService(
      writeConfig({
        people: PG_PEOPLE,
        audit: PG_AUDIT,
        extraDatasets: `  - name: parity.people_file\n    source: ${FILE_PEOPLE}\n  - name: parity.people_us\n    source: { format: postgres, connection: clinical_pg, table: people_us }\n`
      })
    );
  });

  after(async () => {
    await onFile?.close();
    await onPostgres?.close();
  });

  test('the catalog reads the table schema from PostgreSQL', async () => {
    const detail = (await (await api(`${onPostgres.url}/datasets/parity.people`, 'm_year_only')).json()) as { columns: { name: string; sourceType: string; type: string }[] };
    assert.deepEqual(
      detail.columns.map(column => `${column.name} ${column.sourceType} -> ${column.type}`),
      [
        'id integer -> text', 'name character varying -> text', 'email character varying -> text', 'ssn character varying(11) -> text',
        'dob date -> integer', 'seen_at timestamp without time zone -> integer', 'updated_at timestamp with time zone -> integer',
        'amount numeric(10,2) -> text', 'score double precision -> text', 'visits bigint -> text', 'active boolean -> text', 'country character varying -> text'
      ]
    );
  });

  for (const [label] of [['clear'], ...MASKS]) {
    test(`mask ${label}: the same values and Arrow types from DuckDB and PostgreSQL`, async () => {
      const user = label === 'clear' ? 'hider' : `m_${label}`;
      const fromFile = await scan(onFile.url, user, 'parity.people', { orderBy: ['id'] });
      const fromPostgres = await scan(onPostgres.url, user, 'parity.people', { orderBy: ['id'] });
      assert.equal(fromPostgres.numRows, PEOPLE_ROWS.length);
      assert.deepEqual(describeSchema(fromPostgres), describeSchema(fromFile));
      assert.deepEqual(exactColumns(fromPostgres), exactColumns(fromFile));
    });
  }

  test('row filter, cell masks and the caller projection, filter, order and limit: the same on both', async () => {
    const plans = [
      {},
      { columns: ['email', 'ssn', 'score'], filter: "email <> '***' AND ssn LIKE '%6789'" },
      { filter: 'visits > 10 OR visits IN (0, 41)', orderBy: ['score DESC', 'id'], limit: 3 },
      { filter: "dob >= DATE '1980-01-01' AND amount < 12.5", orderBy: ['dob'] }
    ];
    // Without indicators cell masks write their values; with them, which cells a cell mask
    // withheld is the same on both, too.
    for (const maskIndicators of [false, true]) {
      for (const plan of plans) {
        const fromFile = await scan(onFile.url, 'analyst', 'parity.people', { orderBy: ['id'], maskIndicators, ...plan });
        const fromPostgres = await scan(onPostgres.url, 'analyst', 'parity.people', { orderBy: ['id'], maskIndicators, ...plan });
        assert.ok(fromPostgres.numRows > 0, JSON.stringify(plan));
        assert.deepEqual(exactColumns(fromPostgres), exactColumns(fromFile), JSON.stringify({ maskIndicators, ...plan }));
      }
    }
    const emails = rows(await scan(onPostgres.url, 'analyst', 'parity.people', { columns: ['id', 'email', 'ssn'], orderBy: ['id'] }));
    assert.deepEqual(emails.slice(0, 3), [
      { id: 1, email: 'ann@example.com', ssn: '*******6789' },
      { id: 3, email: 'bruce@example.net', ssn: '*******0000' },
      { id: 5, email: 'e@x.io', ssn: '1' }
    ]);
    assert.equal(emails.find(row => row.id === 7)!.email, '***', 'inactive rows get the cell mask');
    const marked = rows(await scan(onPostgres.url, 'analyst', 'parity.people', { columns: ['id', 'email'], orderBy: ['id'], maskIndicators: true }));
    const indicator = `${MASK_INDICATOR_PREFIX}email`;
    assert.deepEqual([marked.find(row => row.id === 1)![indicator], marked.find(row => row.id === 7)![indicator]], [false, true]);
  });

  test('tokens join across engines: PostgreSQL and Parquet copies of the same rows give the same tokens', async () => {
    const plan = { columns: ['id', 'email'], orderBy: ['id'] };
    const fromPostgres = rows(await scan(onPostgres.url, 'm_tokenize', 'parity.people', plan));
    const fromFile = rows(await scan(onPostgres.url, 'm_tokenize', 'parity.people_file', plan));
    const byToken = new Map(fromFile.map(row => [row.email, row.id]));
    const joined = fromPostgres.filter(row => row.email !== null && byToken.get(row.email) === row.id);
    assert.equal(joined.length, PEOPLE_ROWS.length - 1, 'every non-null email joins');
    const tokenKey = createHash('sha256').update('parity-mask-key-0123456789abcdef\0token').digest('hex');
    const annToken = 'tok_' + createHash('sha256').update(tokenKey + 'ann@example.com').digest('hex').slice(0, 16);
    assert.ok(fromPostgres.some(row => row.email === annToken), 'the token is the keyed SHA-256 of the value');
    // A view is a source like a table: its rows carry the same tokens.
    const fromView = rows(await scan(onPostgres.url, 'm_tokenize', 'parity.people_us', plan));
    assert.equal(fromView.length, 8);
    assert.ok(fromView.every(row => byToken.get(row.email) === row.id));
    // Hashes are keyed per dataset: the same value does not join across datasets.
    const hashed = rows(await scan(onPostgres.url, 'm_hash', 'parity.people', { columns: ['email'], limit: 1, orderBy: ['id'] }));
    const hashedFile = rows(await scan(onPostgres.url, 'm_hash', 'parity.people_file', { columns: ['email'], limit: 1, orderBy: ['id'] }));
    assert.notEqual(hashed[0].email, hashedFile[0].email);
  });

  test('a filter on the raw value of a masked column finds nothing; type errors are clean 400s; values are bound', async () => {
    assert.equal((await scan(onPostgres.url, 'analyst', 'parity.people', { filter: "ssn = '123-45-6789'" })).numRows, 0);
    for (const [filter, message] of [
      ['name > 5', /^invalid filter: it compares column "name" \(character varying\) with 5, which is a number/],
      ["dob > 'soon'", /^invalid filter: it compares column "dob" \(date\) with 'soon', which is text/],
      // Past the type check, the engine's own refusal (22008): in Warden's words.
      ["dob > '2020-13-45'", /^the filter could not be applied: a value could not be converted/]
    ] as const) {
      const response = await api(`${onPostgres.url}/datasets/parity.people/scan`, 'analyst', { method: 'POST', body: JSON.stringify({ filter }) });
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(response.status, 400);
      assert.equal(body.error.code, 'invalid_filter');
      assert.match(body.error.message, message);
    }
    const injected = await scan(onPostgres.url, 'analyst', 'parity.people', { filter: "name = 'x'' OR 1=1 --'" });
    assert.equal(injected.numRows, 0);
  });
});

describe('Arrow from a PostgreSQL cursor', () => {
  let engine: PostgresEngine;
  const connection: PostgresConnection = {
    kind: 'postgres', name: 'test', host: '127.0.0.1', port: 0, database: 'clinical', user: 'warden', password: PASSWORD, ssl: 'disable', poolSize: 2, statementTimeoutMs: 600_000
  };
  const compiled = (sql: string, names: string[]): CompiledScan => ({ sql, params: [], columns: names.map(name => ({ name, type: '', access: 'clear', cellMasked: false })) });

  before(() => {
    engine = new PostgresEngine({ ...connection, port: cluster.port });
  });
  after(() => engine?.close());

  test('every type, nulls, extreme dates, in several batches, whatever the local time zone', async () => {
    const zone = process.env.TZ;
    process.env.TZ = 'Pacific/Kiritimati'; // UTC+14: a date shifted by the local zone would show
    try {
      const sql = `SELECT
          CASE WHEN i % 3 = 0 THEN NULL ELSE CAST(i AS INTEGER) END AS int_col,
          CASE WHEN i % 5 = 1 THEN NULL ELSE CAST(i AS BIGINT) * 1000000000 END AS big_col,
          CAST(i % 100 AS SMALLINT) AS small_col,
          CASE WHEN i % 7 = 2 THEN NULL ELSE i / 4.0::float8 END AS double_col,
          CAST(i / 8.0 AS REAL) AS real_col,
          CASE WHEN i % 11 = 3 THEN NULL ELSE CAST(i AS NUMERIC(10, 2)) / 8 END AS numeric_col,
          CASE WHEN i % 13 = 4 THEN NULL ELSE i % 2 = 0 END AS bool_col,
          CASE WHEN i % 4 = 0 THEN NULL ELSE DATE '2000-01-01' + i END AS date_col,
          CASE WHEN i % 6 = 0 THEN NULL ELSE TIMESTAMP '2020-01-01 00:00:00' + i * INTERVAL '1.000001 second' END AS ts_col,
          TIMESTAMPTZ '2020-06-30 23:00:00-05' + i * INTERVAL '1 hour' AS tstz_col,
          CASE WHEN i % 9 = 0 THEN NULL ELSE 'text ' || i || ' é' END AS text_col,
          CAST('{"i": ' || i || '}' AS jsonb) AS json_col
        FROM generate_series(0, 39999) AS t(i) ORDER BY i`;
      const names = ['int_col', 'big_col', 'small_col', 'double_col', 'real_col', 'numeric_col', 'bool_col', 'date_col', 'ts_col', 'tstz_col', 'text_col', 'json_col'];
      const result = await engine.stream(compiled(sql, names), new Map([['k', 'v']]));
      assert.deepEqual(result.schema.fields.map(field => String(field.type)), [
        'Int32', 'Int64', 'Int16', 'Float64', 'Float32', 'Float64', 'Bool', 'Date32<DAY>', 'Timestamp<MICROSECOND>', 'Timestamp<MICROSECOND, UTC>', 'Utf8', 'Utf8'
      ]);
      let received = 0;
      let batches = 0;
      for await (const batch of result.batches) {
        batches++;
        assert.ok(batch.numRows <= 16_384);
        for (let r = 0; r < batch.numRows; r++, received++) {
          const i = received;
          const row = Object.fromEntries(names.map((name, c) => [name, batch.getChildAt(c)!.isValid(r) ? (c === 8 || c === 9 ? batch.getChildAt(c)!.data[0].values[r] : batch.getChildAt(c)!.get(r)) : null]));
          assert.deepEqual(
            row,
            {
              int_col: i % 3 === 0 ? null : i,
              big_col: i % 5 === 1 ? null : BigInt(i) * 1_000_000_000n,
              small_col: i % 100,
              double_col: i % 7 === 2 ? null : i / 4,
              real_col: Math.fround(i / 8),
              numeric_col: i % 11 === 3 ? null : Number((i / 8).toFixed(6)),
              bool_col: i % 13 === 4 ? null : i % 2 === 0,
              date_col: i % 4 === 0 ? null : Date.UTC(2000, 0, 1) + i * 86_400_000,
              ts_col: i % 6 === 0 ? null : BigInt(Date.UTC(2020, 0, 1)) * 1000n + BigInt(i) * 1_000_001n,
              tstz_col: BigInt(Date.UTC(2020, 6, 1, 4)) * 1000n + BigInt(i) * 3_600_000_000n,
              text_col: i % 9 === 0 ? null : `text ${i} é`,
              json_col: `{"i": ${i}}`
            },
            `row ${i}`
          );
        }
      }
      assert.equal(received, 40_000);
      assert.equal(batches, 3);
    } finally {
      process.env.TZ = zone;
      if (zone === undefined) delete process.env.TZ;
    }
  });

  test('infinite and BC dates and timestamps, and DuckDB-compatible sentinels', async () => {
    const sql = `SELECT * FROM (VALUES
      (DATE '0044-03-15 BC', TIMESTAMP '0044-03-15 12:00:00 BC', TIMESTAMPTZ '0001-01-01 00:00:00+00'),
      (DATE 'infinity', TIMESTAMP 'infinity', TIMESTAMPTZ '-infinity'),
      (DATE '9999-12-31', TIMESTAMP '1970-01-01 00:00:00.000001', TIMESTAMPTZ '2020-07-01 12:00:00+05:30')) AS t(d, ts, tstz)`;
    const result = await engine.stream(compiled(sql, ['d', 'ts', 'tstz']), new Map());
    const values: unknown[][] = [];
    for await (const batch of result.batches) {
      for (let r = 0; r < batch.numRows; r++) values.push([0, 1, 2].map(c => batch.getChildAt(c)!.data[0].values[r]));
    }
    // Milliseconds since the epoch of a UTC time in any year (Date.UTC reads years 0-99 as 19xx).
    const utc = (year: number, month: number, day: number, hours = 0, minutes = 0) => new Date(0).setUTCFullYear(year, month - 1, day) + (hours * 60 + minutes) * 60_000;
    const micros = (ms: number) => BigInt(ms) * 1000n;
    assert.deepEqual(values, [
      [utc(-43, 3, 15) / 86_400_000, micros(utc(-43, 3, 15, 12)), micros(utc(1, 1, 1))],
      [2_147_483_647, 9_223_372_036_854_775_807n, -9_223_372_036_854_775_807n],
      [utc(9999, 12, 31) / 86_400_000, 1n, micros(utc(2020, 7, 1, 6, 30))]
    ]);
  });

  test('a stream is a cursor: the first batch of a huge result comes at once, and stopping ends the query', async () => {
    const started = Date.now();
    // A recursive CTE without end is computed as it is read: only a cursor can return from it.
    const endless = 'WITH RECURSIVE t(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM t) SELECT i, md5(i::text) AS h FROM t';
    const result = await engine.stream(compiled(endless, ['i', 'h']), new Map());
    const batches = result.batches[Symbol.asyncIterator]();
    const first = await batches.next();
    assert.equal(first.value!.numRows, 16_384);
    assert.ok(Date.now() - started < 5000, `first batch after ${Date.now() - started} ms`);
    result.cancel();
    await batches.return!();
    const active = await cluster.sql<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'WITH RECURSIVE t(i)%' AND state <> 'idle' AND pid <> pg_backend_pid()");
    assert.equal(active[0].n, 0, 'the query is no longer running');
  });

  test('a compiled query cannot write: it runs in a read-only transaction', async () => {
    await cluster.sql('CREATE SEQUENCE s; GRANT USAGE ON SEQUENCE s TO warden', [], 'clinical');
    await assert.rejects(engine.stream(compiled("SELECT nextval('s')", ['n']), new Map()), /cannot execute nextval\(\) in a read-only transaction/);
  });

  test('heavy queries, from PostgreSQL\'s own plan: sorts, aggregates, joins, windows are heavy; filtered scans and small top-N are not', async () => {
    // The heavy node names are PostgreSQL's choice for these tiny tables (a join may be a hash or a nested loop).
    const shapes: [string, string, number | undefined, RegExp | null][] = [
      ['a filtered scan', "SELECT * FROM people WHERE country = 'US'", undefined, null],
      ['a small top-N', 'SELECT * FROM people ORDER BY ssn LIMIT 100', 100, null],
      ['a sort', 'SELECT * FROM people ORDER BY ssn', undefined, /^Sort$/],
      ['an aggregate', 'SELECT country, count(*) FROM people GROUP BY country', undefined, /Aggregate/],
      ['a join', 'SELECT * FROM people a JOIN people b ON a.ssn = b.ssn', undefined, /Hash|Nested Loop|Merge/],
      ['a window', 'SELECT *, row_number() OVER (PARTITION BY country ORDER BY ssn) FROM people', undefined, /WindowAgg/]
    ];
    for (const [shape, sql, limit, heavy] of shapes) {
      const cost = await engine.cost({ ...compiled(sql, []), ...(limit !== undefined ? { limit } : {}) });
      if (heavy === null) assert.deepEqual(cost.heavyOperators, [], shape);
      else assert.ok(cost.heavyOperators.some(found => heavy.test(found)), `${shape}: ${heavy} in ${cost.heavyOperators}`);
      assert.ok(cost.readAheadBytes > 0 && cost.readAheadBytes <= 16_384 * 1024, shape);
    }
  });

  test('each session runs with the connection\'s work_mem and statement_timeout; a statement past the timeout is stopped', async () => {
    const limited = new PostgresEngine({ ...connection, port: cluster.port, workMemMib: 8, statementTimeoutMs: 500 });
    try {
      const result = await limited.stream(compiled("SELECT current_setting('work_mem') AS w, current_setting('statement_timeout') AS t", ['w', 't']), new Map());
      const settings: string[] = [];
      for await (const batch of result.batches) settings.push(String(batch.getChild('w')!.get(0)), String(batch.getChild('t')!.get(0)));
      assert.deepEqual(settings, ['8MB', '500ms']);
      await assert.rejects(
        (async () => {
          const slow = await limited.stream(compiled('SELECT pg_sleep(5) AS s', ['s']), new Map());
          for await (const _batch of slow.batches);
        })(),
        /canceling statement due to statement timeout/
      );
    } finally {
      await limited.close();
    }
  });

  test('rows per second through the cursor into Arrow', async t => {
    const rowsWanted = 300_000;
    const started = process.hrtime.bigint();
    const result = await engine.stream(
      compiled(`SELECT i AS id, 'P' || lpad(i::text, 7, '0') AS name, DATE '2000-01-01' + i % 9000 AS day, i * 1.5 AS amount, i % 2 = 0 AS flag FROM generate_series(1, ${rowsWanted}) AS t(i)`, ['id', 'name', 'day', 'amount', 'flag']),
      new Map()
    );
    let received = 0;
    for await (const batch of result.batches) received += batch.numRows;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    assert.equal(received, rowsWanted);
    t.diagnostic(`PostgreSQL scan: ${rowsWanted} rows x 5 columns in ${seconds.toFixed(2)} s = ${Math.round(rowsWanted / seconds)} rows/s`);
  });
});

describe('the audit log in PostgreSQL', () => {
  let running: RunningService;
  const auditRows = (sql: string, params: unknown[] = []) => cluster.sql<Record<string, unknown>>(sql, params, 'audit');

  before(async () => {
    running = await startService(writeConfig({ people: PG_PEOPLE, audit: PG_AUDIT }));
  });
  after(() => running?.close());

  test('the access record is committed before the first byte, the complete record after the stream', async () => {
    const response = await api(`${running.url}/datasets/parity.people/scan`, 'analyst', {
      method: 'POST',
      headers: { 'x-warden-client': 'python-client', 'x-warden-notebook': 'trials/pg.ipynb' },
      body: JSON.stringify({ columns: ['id', 'ssn'] })
    });
    assert.equal(response.status, 200);
    const requestId = response.headers.get('x-warden-request-id');
    // Headers arrived, the body is not read yet: the access record must already be there.
    const [access] = await auditRows('SELECT * FROM warden_audit WHERE request_id = $1', [requestId]);
    assert.deepEqual(
      { user: access.user_name, client: access.client, notebook: access.notebook, action: access.action, dataset: access.dataset, columns: access.columns, event: access.event, outcome: access.outcome },
      { user: 'analyst', client: 'python-client', notebook: 'trials/pg.ipynb', action: 'scan', dataset: 'parity.people', columns: 'id, ssn', event: 'access', outcome: 'allowed' }
    );
    const bytes = (await response.arrayBuffer()).byteLength;
    // Written once the connection says the client took the answer (http/connections.ts).
    await until(async () => (await auditRows("SELECT 1 FROM warden_audit WHERE request_id = $1 AND event = 'complete'", [requestId])).length > 0, 'the complete record');
    const records = await auditRows("SELECT event, outcome, rows, bytes FROM warden_audit WHERE request_id = $1 ORDER BY event = 'complete'", [requestId]);
    assert.deepEqual(records.map(record => ({ ...record })), [
      { event: 'access', outcome: 'allowed', rows: null, bytes: null },
      { event: 'complete', outcome: 'completed', rows: '8', bytes: String(bytes) }
    ]);
  });

  test('warden.audit_log is served from the table, with the built-in policies', async () => {
    await api(`${running.url}/whoami`, 'hider');
    const table = await scan(running.url, 'cora', 'warden.audit_log');
    assert.equal(table.schema.fields.find(field => field.name === 'time')!.type.toString(), 'Timestamp<MICROSECOND, UTC>');
    const users = new Set(rows(table).map(row => row.user_name));
    assert.ok(users.has('analyst') && users.has('hider'), `compliance sees everyone: ${[...users]}`);
    const own = rows(await scan(running.url, 'analyst', 'warden.audit_log', { columns: ['user_name', 'action'] }));
    assert.ok(own.length > 0);
    assert.deepEqual(new Set(own.map(row => row.user_name)), new Set(['analyst']));
  });

  test('fail closed: when the table cannot be written, no data is released; it recovers after', async () => {
    await auditRows('ALTER TABLE warden_audit RENAME TO warden_audit_away');
    try {
      const response = await api(`${running.url}/datasets/parity.people/scan`, 'hider', { method: 'POST', body: '{}' });
      assert.equal(response.status, 503);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'audit_unavailable');
    } finally {
      await auditRows('ALTER TABLE warden_audit_away RENAME TO warden_audit');
    }
    assert.equal((await api(`${running.url}/datasets/parity.people/scan`, 'hider', { method: 'POST', body: '{}' })).status, 200);
  });

  test('start-up: the table is created once and reused; a table of the wrong shape or a wrong password stops the service', async () => {
    const again = await WardenService.start(writeConfig({ people: PG_PEOPLE, audit: PG_AUDIT }), quietLogger);
    await again.close();
    // A table made before the compliance-only columns existed gets them; its rows stay.
    await auditRows(
      'CREATE TABLE early_audit (time timestamptz NOT NULL, request_id text NOT NULL, event text NOT NULL, user_name text, groups text, client text NOT NULL, notebook text, ' +
        "action text NOT NULL, dataset text, columns text, policies text, row_filter text, caller_filter text, outcome text NOT NULL, reason text, rows bigint, bytes bigint); INSERT INTO early_audit VALUES (now(), 'old', 'access', 'alice', '', 'api', NULL, 'whoami', NULL, NULL, NULL, NULL, NULL, 'allowed', NULL, NULL, NULL); ALTER TABLE early_audit OWNER TO warden"
    );
    const upgraded = await startService(writeConfig({ people: PG_PEOPLE, audit: '  postgres: { connection: audit_pg, table: early_audit }' }));
    try {
      await (await api(`${upgraded.url}/datasets/parity.nope`, 'analyst')).arrayBuffer();
      assert.deepEqual(
        (await auditRows("SELECT request_id = 'old' AS old, outcome, actual_outcome FROM early_audit ORDER BY time")).map(row => Object.values(row)),
        [[true, 'allowed', null], [false, 'not_found', 'not_found']]
      );
    } finally {
      await upgraded.close();
    }
    await auditRows('CREATE TABLE not_audit (time timestamptz, request_id text)');
    await assert.rejects(
      WardenService.start(writeConfig({ people: PG_PEOPLE, audit: '  postgres: { connection: audit_pg, table: not_audit }' }), quietLogger),
      /audit table not_audit \(connection audit_pg \(warden@127\.0\.0\.1:\d+\/audit\)\): the table exists but lacks the audit columns event text \(missing\)/
    );
    process.env.WARDEN_PG_PASSWORD = 'wrong';
    try {
      await assert.rejects(WardenService.start(writeConfig({ people: PG_PEOPLE, audit: `  path: ${join(lakeDir, '..', 'audit.jsonl')}` }), quietLogger), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /catalog\/parity\.yaml:2: dataset parity\.people: cannot read source: connection clinical_pg .*password authentication failed for user "warden"/);
        return true;
      });
    } finally {
      process.env.WARDEN_PG_PASSWORD = PASSWORD;
    }
    await assert.rejects(
      WardenService.start(writeConfig({ people: '{ format: postgres, connection: clinical_pg, table: public.nope }', audit: PG_AUDIT }), quietLogger),
      /parity\.yaml:2: dataset parity\.people: cannot read source: connection clinical_pg .*: no table or view "public"\."nope" \(or user warden cannot see it\)/
    );
  });
});

test('hot reload: a changed connection gets a new pool and the old one closes; the audit sink needs a restart', async () => {
  const configDir = writeConfig({ people: PG_PEOPLE, audit: PG_AUDIT });
  const errors: string[] = [];
  const service = await WardenService.start(configDir, { info: () => undefined, error: message => errors.push(message) });
  const settingsFile = join(configDir, 'warden.yaml');
  const edit = (from: RegExp, to: string) => writeFileSync(settingsFile, readFileSync(settingsFile, 'utf8').replace(from, to));
  try {
    const people = service.catalog.get('parity.people')!.engine;
    const audit = service.catalog.get('warden.audit_log')!.engine;
    edit(/(database: clinical, .*)pool_size: 4/, '$1pool_size: 3');
    await service.reload();
    assert.deepEqual(errors, []);
    assert.notEqual(service.catalog.get('parity.people')!.engine, people, 'the changed connection has a new engine');
    assert.equal(service.catalog.get('warden.audit_log')!.engine, audit, 'the unchanged one keeps its pool');
    await assert.rejects(people.describe({ format: 'postgres', connection: 'clinical_pg', table: 'people' }), /Cannot use a pool after calling end/);
    assert.equal((await service.catalog.get('parity.people')!.engine.describe({ format: 'postgres', connection: 'clinical_pg', table: 'people' })).length, COLUMNS.length);

    edit(/audit:\n.*\n/, `audit:\n  path: ${join(lakeDir, '..', 'audit.jsonl')}\n`);
    await service.reload();
    const refused = errors.map(line => JSON.parse(line)).filter(line => line.event === 'config_reload' && line.outcome === 'refused');
    assert.match(refused[0]?.reason, /^the audit sink or its connection changed: restart the service/);
    assert.equal(service.config.settings.audit.sink, 'postgres');
  } finally {
    await service.close();
  }
});

describe('replicas share nothing but PostgreSQL and the config directory', () => {
  const children: ChildProcess[] = [];
  after(() => children.forEach(child => child.kill('SIGKILL')));

  function startReplica(configDir: string): Promise<string> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/service/main.ts', '--config', configDir, '--port', '0', '--no-watch'], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe']
    });
    children.push(child);
    return new Promise((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /warden: listening on (http:\/\/[\d.]+:\d+)/.exec(output);
        if (match) resolve(`${match[1]}/api/v1`);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('exit', code => reject(new Error(`replica exited with ${code}: ${output}`)));
    });
  }

  test('concurrent requests on two replicas: every access audited once, none lost, none duplicated', async t => {
    const configDir = writeConfig({ people: PG_PEOPLE, audit: PG_AUDIT });
    const replicas = await Promise.all([startReplica(configDir), startReplica(configDir)]);
    await Promise.all(replicas.map(url => api(`${url}/whoami`, 'analyst'))); // warm-up, not measured
    const requests = 240;
    const users = ['analyst', 'hider', 'm_tokenize', 'm_hash'];
    const started = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: requests }, async (_, i) => {
        const url = replicas[i % 2];
        const path = i % 3 === 0 ? '/datasets/parity.people/preview?limit=5' : '/datasets/parity.people/scan';
        const response = await api(`${url}${path}`, users[i % users.length], i % 3 === 0 ? {} : { method: 'POST', body: JSON.stringify({ limit: 1 + (i % 10) }) });
        await response.arrayBuffer();
        return { replica: i % 2, status: response.status, requestId: response.headers.get('x-warden-request-id') };
      })
    );
    const elapsed = Date.now() - started;
    const served = outcomes.filter(outcome => outcome.status === 200);
    assert.equal(served.length, requests, `all requests answered 200: ${JSON.stringify(outcomes.filter(o => o.status !== 200).slice(0, 3))}`);
    assert.deepEqual(new Set(served.map(outcome => outcome.replica)), new Set([0, 1]));
    // Completion records are written once each connection says its client took the answer.
    const ids = served.map(outcome => outcome.requestId!);
    const completes = async () =>
      (await cluster.sql<{ n: number }>("SELECT count(*)::int AS n FROM warden_audit WHERE event = 'complete' AND request_id = ANY($1)", [ids], 'audit'))[0].n;
    await until(async () => (await completes()) >= ids.length, 'every complete record');
    const counted = await cluster.sql<{ request_id: string; access: number; complete: number }>(
      `SELECT request_id, count(*) FILTER (WHERE event = 'access')::int AS access, count(*) FILTER (WHERE event = 'complete')::int AS complete
       FROM warden_audit WHERE request_id = ANY($1) GROUP BY request_id`,
      [ids],
      'audit'
    );
    assert.equal(counted.length, ids.length, 'every request that got data has audit records');
    assert.deepEqual(counted.filter(row => row.access !== 1 || row.complete !== 1), [], 'exactly one access and one complete record each');
    t.diagnostic(`${requests} concurrent requests on 2 replicas in ${elapsed} ms (${Math.round((requests / elapsed) * 1000)} requests/s), each with 2 audit records`);
  });
});
