/**
 * The third leg of the shared fixture, through the real service over HTTP: the same rows in an
 * Iceberg table on the running Trino cluster, served from a `kind: trino` connection, give for
 * every mask, row filter, cell mask and caller plan the same values and Arrow types as DuckDB
 * on the Parquet copy. The service logs into Trino as its read-only account, and Trino's query
 * log names the request id of Warden's audit record. Run through scripts/trino/test.sh.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { MASK_INDICATOR_PREFIX, REQUEST_ID_HEADER } from '../../common/api';
import { copyIntoTrino } from '../demo/trino-lake';
import { TrinoClient } from '../engine/trino';
import { RunningService, api, rows, scan, startService, tempDir, until } from './helpers';
import { COLUMNS, MASKS, PEOPLE_DDL, PEOPLE_ROWS, describeSchema, exactColumns, writeParityPolicies, writeParquet } from './parity-fixture';
import { loaderClient, queriesWithClientInfo, trinoConnectionYaml } from './trino-support';

const MASK_KEY = 'parity-mask-key-0123456789abcdef';
const FILE_PEOPLE = '{ format: parquet, path: people.parquet }';
const TRINO_PEOPLE = '{ format: trino, connection: lake, table: parity.people }';

let removeTemp: () => void;
let loader: TrinoClient;
let onFile: RunningService;
let onTrino: RunningService;
let trinoConfigDir: string;

/** A config directory serving parity.people from `source`, with the parity policies. */
function writeConfig(dir: string, lakeDir: string, keyFile: string, source: string, extraDatasets = ''): string {
  mkdirSync(join(dir, 'catalog'), { recursive: true });
  writeFileSync(
    join(dir, 'warden.yaml'),
    `data_roots: [${lakeDir}]\nidentity: { audience: warden, issuer: jupyter-server, hs256_secret_env: WARDEN_JWT_SECRET }\n` +
      `connections:\n${trinoConnectionYaml('lake')}audit:\n  path: ${join(dir, 'audit.jsonl')}\nmasking: { key_file: ${keyFile} }\n`
  );
  writeFileSync(join(dir, 'catalog', 'parity.yaml'), `datasets:\n  - name: parity.people\n    source: ${source}\n    columns:\n      - { name: ssn, tags: [pii] }\n${extraDatasets}`);
  writeParityPolicies(dir);
  return dir;
}

before(async () => {
  const temp = tempDir('trino-parity');
  removeTemp = temp.remove;
  const lakeDir = join(temp.path, 'lake');
  mkdirSync(lakeDir);
  const keyFile = join(temp.path, 'mask.key');
  writeFileSync(keyFile, `${MASK_KEY}\n`);
  await writeParquet(join(lakeDir, 'people.parquet'));

  // The same rows into Trino, loaded by the writer account from DuckDB's copy.
  loader = loaderClient();
  const instance = await DuckDBInstance.create(':memory:');
  const duck = await instance.connect();
  try {
    await duck.run(PEOPLE_DDL);
    await duck.run(`INSERT INTO people VALUES ${PEOPLE_ROWS.join(', ')}`);
    assert.equal(await copyIntoTrino(loader, duck, 'SELECT * FROM people', 'parity.people'), PEOPLE_ROWS.length);
  } finally {
    duck.closeSync();
    instance.closeSync();
  }

  onFile = await startService(writeConfig(join(temp.path, 'on-file'), lakeDir, keyFile, FILE_PEOPLE));
  trinoConfigDir = writeConfig(join(temp.path, 'on-trino'), lakeDir, keyFile, TRINO_PEOPLE, `  - name: parity.people_file\n    source: ${FILE_PEOPLE}\n`);
  onTrino = await startService(trinoConfigDir);
});

after(async () => {
  await onFile?.close();
  await onTrino?.close();
  loader?.close();
  removeTemp?.();
});

describe('an Iceberg table on Trino is governed exactly like a file on DuckDB', () => {
  test('the catalog reads the table schema from Trino', async () => {
    const detail = (await (await api(`${onTrino.url}/datasets/parity.people`, 'm_year_only')).json()) as { columns: { name: string; sourceType: string; type: string }[] };
    assert.deepEqual(
      detail.columns.map(column => `${column.name} ${column.sourceType} -> ${column.type}`),
      [
        'id integer -> varchar', 'name varchar -> varchar', 'email varchar -> varchar', 'ssn varchar -> varchar',
        'dob date -> integer', 'seen_at timestamp(6) -> integer', 'updated_at timestamp(6) with time zone -> integer',
        'amount decimal(10,2) -> varchar', 'score double -> varchar', 'visits bigint -> varchar', 'active boolean -> varchar', 'country varchar -> varchar'
      ]
    );
    assert.deepEqual(detail.columns.map(column => column.name), COLUMNS);
  });

  for (const [label] of [['clear'], ...MASKS]) {
    test(`mask ${label}: the same values and Arrow types from DuckDB and Trino`, async () => {
      const user = label === 'clear' ? 'hider' : `m_${label}`;
      const fromFile = await scan(onFile.url, user, 'parity.people', { orderBy: ['id'] });
      const fromTrino = await scan(onTrino.url, user, 'parity.people', { orderBy: ['id'] });
      assert.equal(fromTrino.numRows, PEOPLE_ROWS.length);
      assert.deepEqual(describeSchema(fromTrino), describeSchema(fromFile));
      assert.deepEqual(exactColumns(fromTrino), exactColumns(fromFile));
    });
  }

  test('row filter, cell masks and mask indicators, the caller projection, filter, order and limit: the same on both', async () => {
    const plans = [
      {},
      { columns: ['email', 'ssn', 'score'], filter: "email <> '***' AND ssn LIKE '%6789'" },
      { filter: 'visits > 10 OR visits IN (0, 41)', orderBy: ['score DESC', 'id'], limit: 3 },
      { filter: "dob >= DATE '1980-01-01' AND amount < 12.5", orderBy: ['dob'] }
    ];
    for (const plan of plans) {
      const fromFile = await scan(onFile.url, 'analyst', 'parity.people', { orderBy: ['id'], maskIndicators: true, ...plan });
      const fromTrino = await scan(onTrino.url, 'analyst', 'parity.people', { orderBy: ['id'], maskIndicators: true, ...plan });
      assert.ok(fromTrino.numRows > 0, JSON.stringify(plan));
      assert.deepEqual(exactColumns(fromTrino), exactColumns(fromFile), JSON.stringify(plan));
    }
    const emails = rows(await scan(onTrino.url, 'analyst', 'parity.people', { columns: ['id', 'email', 'ssn'], orderBy: ['id'], maskIndicators: true }));
    const indicator = `${MASK_INDICATOR_PREFIX}email`;
    assert.deepEqual(emails.slice(0, 3), [
      { id: 1, email: 'ann@example.com', ssn: '*******6789', [indicator]: false },
      { id: 3, email: 'bruce@example.net', ssn: '*******0000', [indicator]: false },
      { id: 5, email: 'e@x.io', ssn: '1', [indicator]: false }
    ]);
    assert.deepEqual(emails.find(row => row.id === 7), { id: 7, email: null, ssn: '*******2222', [indicator]: true }, 'inactive rows get the cell mask: NULL, the indicator says why');
  });

  test('tokens join across engines: the keyed SHA-256 of the value, the same on Trino and DuckDB', async () => {
    const plan = { columns: ['id', 'email'], orderBy: ['id'] };
    const fromTrino = rows(await scan(onTrino.url, 'm_tokenize', 'parity.people', plan));
    const byToken = new Map(rows(await scan(onTrino.url, 'm_tokenize', 'parity.people_file', plan)).map(row => [row.email, row.id]));
    assert.equal(fromTrino.filter(row => row.email !== null && byToken.get(row.email) === row.id).length, PEOPLE_ROWS.length - 1, 'every non-null email joins');
    const tokenKey = createHash('sha256').update(`${MASK_KEY}\0token`).digest('hex');
    const annToken = 'tok_' + createHash('sha256').update(tokenKey + 'ann@example.com').digest('hex').slice(0, 16);
    assert.ok(fromTrino.some(row => row.email === annToken), 'the token is the keyed SHA-256 of the value');
  });

  test('a filter on the raw value of a masked column finds nothing; type errors are clean 400s; values are bound', async () => {
    assert.equal((await scan(onTrino.url, 'analyst', 'parity.people', { filter: "ssn = '123-45-6789'" })).numRows, 0);
    for (const [filter, message] of [
      // Refused by the service's type check, before Trino sees them.
      ['name > 5', /^invalid filter: it compares column "name" \(varchar\) with 5, which is a number/],
      ["dob > 'soon'", /^invalid filter: it compares column "dob" \(date\) with 'soon', which is text/],
      // Text that reads as a date passes the check, but Trino compares a date with text only
      // after an explicit cast (DATE '...'; DuckDB and PostgreSQL cast the text): Trino's
      // TYPE_MISMATCH reaches the caller as a clean refusal of the filter, its text does not.
      ["dob > '1999-06-01'", /^the filter could not be applied: a value could not be converted to the type it is compared with/]
    ] as const) {
      const response = await api(`${onTrino.url}/datasets/parity.people/scan`, 'analyst', { method: 'POST', body: JSON.stringify({ filter }) });
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.deepEqual([response.status, body.error.code], [400, 'invalid_filter'], filter);
      assert.match(body.error.message, message);
    }
    assert.equal((await scan(onTrino.url, 'hider', 'parity.people', { filter: "name = 'x'' OR 1=1 --'" })).numRows, 0);
    assert.equal((await scan(onTrino.url, 'hider', 'parity.people', { filter: "name = '$1'' OR ''a'' = ''a' OR name = '?'" })).numRows, 0);
    assert.deepEqual(rows(await scan(onTrino.url, 'hider', 'parity.people', { columns: ['id'], filter: "name = 'Ann O''Neil'" })), [{ id: 1 }]);
    const byDate = { filter: "dob > DATE '1999-06-01'", orderBy: ['id'] };
    const fromTrino = await scan(onTrino.url, 'analyst', 'parity.people', byDate);
    assert.equal(fromTrino.numRows, 4);
    assert.deepEqual(exactColumns(fromTrino), exactColumns(await scan(onFile.url, 'analyst', 'parity.people', byDate)));
  });
});

describe('operating it: the audit record and Trino\'s query log', () => {
  test('Trino ran the scan as the service account, with the request id of the audit record; values bound, not in the query text', async () => {
    const filter = "name <> 'needle-7f3a'";
    const response = await api(`${onTrino.url}/datasets/parity.people/scan`, 'analyst', { method: 'POST', body: JSON.stringify({ columns: ['id', 'email'], filter }) });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
    const requestId = response.headers.get(REQUEST_ID_HEADER)!;
    assert.ok(requestId, 'the answer names its request id');

    const records = () => readFileSync(join(trinoConfigDir, 'audit.jsonl'), 'utf8').trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>).filter(record => record.request_id === requestId);
    // The complete record waits for the connection to say the client took the answer (http/connections.ts).
    await until(() => records().some(record => record.event === 'complete'), 'the complete record');
    const audited = records();
    assert.deepEqual(audited.map(record => [record.event, record.outcome, record.user_name, record.dataset]), [
      ['access', 'allowed', 'analyst', 'parity.people'],
      ['complete', 'completed', 'analyst', 'parity.people']
    ]);

    const queries = await queriesWithClientInfo(loader, requestId);
    assert.equal(queries.length, 1, 'one Trino query for the request');
    const [ran] = queries;
    assert.deepEqual([ran.session.user, ran.session.source, ran.state], ['warden', 'warden', 'FINISHED']);
    // The analyst's row filter and the caller's filter ran in Trino, their values bound in USING.
    assert.match(ran.query, /^EXECUTE IMMEDIATE '/);
    const [text, values] = ran.query.split(/' USING /);
    assert.ok(!text.includes('needle-7f3a') && !text.includes("'US'"), text);
    assert.match(values, /'needle-7f3a'/);
    assert.match(values, /'US'/);
    assert.equal(ran.queryStats.outputPositions, audited[1].rows, 'Trino sent exactly the rows the audit says were released');
  });
});
