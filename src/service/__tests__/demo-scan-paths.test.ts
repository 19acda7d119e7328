/**
 * Governed scans of every dataset of the demo lake over HTTP, as every persona, on both
 * DuckDB-to-Arrow paths (the native addon, engine/duckdb/native/, and JavaScript,
 * engine/duckdb/chunks.ts), against DuckDB answering the query Warden compiled by itself:
 * the same Arrow schema on both paths, the same values as DuckDB's, the personas' masks and
 * row filters visible in what arrives, and a complete audit record with the rows and bytes
 * the client took.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance, DuckDBTypeId } from '@duckdb/node-api';
import { DataType, Table, makeVector, tableFromIPC } from 'apache-arrow';
import { compileRead } from '../access/read';
import { AUDIT_DATASET } from '../audit/dataset';
import { nativeArrowChosen } from '../engine/duckdb/native';
import { principalFrom } from '../identity/verify';
import { decide } from '../policy/decide';
import { parseExpression } from '../policy/parse';
import { RunningService, api, demoLake, startService, until } from './helpers';

/** Rows of the main trial: its scans span several native batches (4 MB) and JavaScript ones (32,768 rows). */
const TRIAL_ROWS = 100_000;
const TRIALS = ['drug_xyz.trial_july2020', 'drug_xyz.trial_march2021', 'drug_abc.trial_jan2022'];
const PERSONAS = ['alice', 'pat', 'carlos', 'cora'];

type Path = 'native' | 'js';
interface Received {
  table: Table;
  bytes: number;
  requestId: string;
}

let demo: Awaited<ReturnType<typeof demoLake>>;
let running: RunningService;
let duck: DuckDBInstance;
/** Request ids of the scans of the lake, whose audit records the audit log scans read back. */
const scanned: string[] = [];

before(async () => {
  demo = await demoLake(TRIAL_ROWS);
  running = await startService(demo.configDir);
  duck = await DuckDBInstance.create(':memory:');
});

after(async () => {
  delete process.env.WARDEN_DUCKDB_ARROW;
  duck.closeSync();
  await running.close();
  demo.remove();
});

async function scanOver(path: Path, user: string, dataset: string, body: object): Promise<Received> {
  if (path === 'js') process.env.WARDEN_DUCKDB_ARROW = 'js';
  else delete process.env.WARDEN_DUCKDB_ARROW;
  assert.equal(nativeArrowChosen(), path === 'native', 'the addon must load for the native path (scripts/build-native.mjs)');
  const response = await api(`${running.url}/datasets/${encodeURIComponent(dataset)}/scan`, user, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.status, 200, `${user} scanning ${dataset}: ${response.status}`);
  const body_ = new Uint8Array(await response.arrayBuffer());
  return { table: tableFromIPC(body_), bytes: body_.byteLength, requestId: response.headers.get('x-warden-request-id')! };
}

/** Each column's values as comparable JavaScript: dates as ISO days, timestamps as epoch microseconds. */
function arrowColumns(table: Table): Record<string, unknown[]> {
  return Object.fromEntries(
    table.schema.fields.map((field, c) => {
      const values: unknown[] = [];
      for (const data of table.getChildAt(c)?.data ?? []) {
        const vector = makeVector(data);
        for (let i = 0; i < vector.length; i++) {
          if (!vector.isValid(i)) values.push(null);
          else if (DataType.isTimestamp(field.type)) values.push(data.values[i] as bigint);
          else if (DataType.isDate(field.type)) values.push(new Date(vector.get(i) as number).toISOString().slice(0, 10));
          else values.push(vector.get(i));
        }
      }
      return [field.name, values];
    })
  );
}

/** What DuckDB itself answers to the SQL Warden compiles for `user`, in arrowColumns' terms. */
async function duckdbColumns(user: string, dataset: string, filter?: string): Promise<{ columns: Record<string, unknown[]>; types: string[] }> {
  const { catalog, policies } = running.service.enforcement;
  const entry = catalog.get(dataset)!;
  const decision = decide(principalFrom({ sub: user }, running.service.config.directory, []), entry.facts, policies);
  const compiled = compileRead(entry, decision, filter ? { filter: parseExpression(filter) } : {}, running.service.enforcement.maskKeys(dataset));
  const connection = await duck.connect();
  try {
    const shape = await connection.run(`SELECT * FROM (${compiled.sql}) LIMIT 0`, compiled.params);
    const names = shape.columnNames();
    const types = shape.columnTypes();
    const select = names.map((name, c) => {
      const quoted = `"${name.replace(/"/g, '""')}"`;
      const typeId = types[c].typeId;
      if (typeId === DuckDBTypeId.DATE) return `CAST(${quoted} AS VARCHAR)`;
      if (typeId === DuckDBTypeId.TIMESTAMP || typeId === DuckDBTypeId.TIMESTAMP_TZ) return `epoch_us(${quoted})`;
      if (typeId === DuckDBTypeId.DECIMAL) return `CAST(${quoted} AS DOUBLE)`;
      return quoted;
    });
    const reader = await connection.runAndReadAll(`SELECT ${select.join(', ')} FROM (${compiled.sql}) AS q`, compiled.params);
    const columns = reader.getColumnsJS();
    return { columns: Object.fromEntries(names.map((name, c) => [name, columns[c]])), types: types.map(type => type.toString()) };
  } finally {
    connection.closeSync();
  }
}

/** Both paths against DuckDB; the audit records of each scan. Returns the tables of each path. */
async function scanBothPaths(user: string, dataset: string, filter?: string): Promise<Record<Path, Table>> {
  const body = filter ? { filter } : {};
  const received = { native: await scanOver('native', user, dataset, body), js: await scanOver('js', user, dataset, body) };
  const expected = await duckdbColumns(user, dataset, filter);
  const describe = (table: Table) => table.schema.fields.map(field => `${field.name}: ${field.type} ${JSON.stringify([...field.metadata])}`);
  assert.deepEqual(describe(received.native.table), describe(received.js.table), `${user} ${dataset}: schemas`);
  assert.deepEqual(Object.keys(arrowColumns(received.native.table)), Object.keys(expected.columns), `${user} ${dataset}: columns`);
  for (const path of ['native', 'js'] as const) {
    const columns = arrowColumns(received[path].table);
    for (const [name, values] of Object.entries(expected.columns)) {
      assert.equal(columns[name].length, values.length, `${user} ${dataset} ${name} (${path}): rows`);
      // One deepEqual per column: a mismatch names its column and path.
      assert.deepEqual(columns[name], values, `${user} ${dataset} ${name} (${path})`);
    }
  }
  for (const path of ['native', 'js'] as const) {
    const { table, bytes, requestId } = received[path];
    await until(() => auditRecords(requestId).some(record => record.event === 'complete'), `the complete record of ${requestId}`);
    const records = auditRecords(requestId);
    assert.deepEqual(
      records.map(record => [record.event, record.outcome, record.user_name, record.dataset, record.rows, record.bytes]),
      [
        ['access', 'allowed', user, dataset, null, null],
        ['complete', 'completed', user, dataset, table.numRows, bytes]
      ],
      `${user} ${dataset} (${path}): audit records`
    );
    if (dataset !== AUDIT_DATASET) scanned.push(requestId);
  }
  return { native: received.native.table, js: received.js.table };
}

function auditRecords(requestId: string): Record<string, unknown>[] {
  const lines = readFileSync(join(demo.out, 'audit', 'audit.jsonl'), 'utf8').trim().split('\n');
  return lines.map(line => JSON.parse(line) as Record<string, unknown>).filter(record => record.request_id === requestId);
}

/** The native path's tables of the first test, by `user dataset`. */
const native = new Map<string, Table>();
/** Arrow types seen on both paths. */
const arrowTypes = new Set<string>();

test('every dataset of the demo lake, as every persona: native and JavaScript paths give what DuckDB gives, audited', async () => {
  for (const user of PERSONAS) {
    const visible = (await (await api(`${running.url}/datasets`, user)).json()) as { datasets: { name: string }[] };
    for (const { name } of visible.datasets.filter(dataset => dataset.name !== AUDIT_DATASET)) {
      const tables = await scanBothPaths(user, name);
      tables.native.schema.fields.forEach(field => arrowTypes.add(String(field.type)));
      native.set(`${user} ${name}`, tables.native);
      if (user === 'pat' && name === TRIALS[0]) {
        // The native path cuts batches by bytes (4 MB), the JavaScript one at 32,768 rows: this
        // says which path a scan took.
        const rowsPerBatch = (table: Table) => table.batches.map(batch => batch.numRows);
        assert.deepEqual(rowsPerBatch(tables.js).slice(0, -1), [32_768, 32_768, 32_768]);
        assert.notDeepEqual(rowsPerBatch(tables.native), rowsPerBatch(tables.js));
      }
    }
  }
  assert.deepEqual([...native.keys()].sort(), [
    ...['commercial.production_batches', ...TRIALS].map(name => `alice ${name}`),
    ...TRIALS.map(name => `carlos ${name}`),
    ...['commercial.production_batches', ...TRIALS].map(name => `pat ${name}`)
  ].sort());
});

test("the audit log, as compliance and as a user: both paths, DuckDB's answer, its timestamps and counts", async () => {
  const filter = `request_id IN (${scanned.map(id => `'${id}'`).join(', ')})`;
  const all = arrowColumns((await scanBothPaths('cora', AUDIT_DATASET, filter)).native);
  assert.equal(all.request_id.length, 2 * scanned.length, 'an access and a complete record per scan');
  assert.ok(all.actual_reason, 'compliance sees the compliance-only columns');
  const tables = await scanBothPaths('alice', AUDIT_DATASET, filter);
  const own = arrowColumns(tables.native);
  assert.deepEqual(new Set(own.user_name), new Set(['alice']));
  assert.equal(own.request_id.length, all.user_name.filter(user => user === 'alice').length);
  assert.equal(own.actual_reason, undefined, 'the compliance-only columns are hidden');
  tables.native.schema.fields.forEach(field => arrowTypes.add(String(field.type)));
  // Every Arrow type the demo lake's columns, its masks and the audit log produce.
  assert.deepEqual([...arrowTypes].sort(), ['Date32<DAY>', 'Float64', 'Int32', 'Int64', 'Timestamp<MICROSECOND, UTC>', 'Utf8']);
});

test('what arrives is governed: alice gets US rows, masked, placebo events blinded; carlos no personal columns, ids tokenized; pat the file', async () => {
  const connection = await duck.connect();
  let raw: Record<string, unknown[]>;
  try {
    const reader = await connection.runAndReadAll(
      `SELECT * REPLACE (CAST(date_of_birth AS VARCHAR) AS date_of_birth, CAST(enrolled_on AS VARCHAR) AS enrolled_on) FROM read_parquet($1)`,
      [join(demo.lakeDir, 'drug_xyz', 'trial_july2020.parquet')]
    );
    const columns = reader.getColumnsJS();
    raw = Object.fromEntries(reader.columnNames().map((name, c) => [name, columns[c]]));
  } finally {
    connection.closeSync();
  }
  const rowsWhere = (keep: (row: number) => boolean) => raw.participant_id.map((_, row) => row).filter(keep);
  const placebo = (row: number) => raw.arm[row] === 'placebo';
  const [alice, carlos, pat] = ['alice', 'carlos', 'pat'].map(user => arrowColumns(native.get(`${user} ${TRIALS[0]}`)!));

  assert.deepEqual(pat, raw, 'pat, a privacy officer, reads the file as it is');

  const us = rowsWhere(row => raw.country[row] === 'US');
  assert.ok(us.length > 0.3 * TRIAL_ROWS && us.length < raw.country.length);
  const text = (value: unknown) => String(value);
  assert.deepEqual(alice, {
    participant_id: us.map(row => raw.participant_id[row]),
    name: us.map(() => '[redacted]'),
    ssn: us.map(row => '*'.repeat(text(raw.ssn[row]).length - 4) + text(raw.ssn[row]).slice(-4)),
    date_of_birth: us.map(row => Number(text(raw.date_of_birth[row]).slice(0, 4))),
    email: us.map(row => `***@${text(raw.email[row]).split('@')[1]}`),
    country: us.map(() => 'US'),
    site: us.map(row => raw.site[row]),
    arm: us.map(row => raw.arm[row]),
    outcome: us.map(row => raw.outcome[row]),
    adverse_events: us.map(row => (placebo(row) ? '[blinded]' : raw.adverse_events[row])),
    enrolled_on: us.map(row => raw.enrolled_on[row])
  });

  const every = rowsWhere(() => true);
  assert.deepEqual(Object.keys(carlos), ['participant_id', 'country', 'site', 'arm', 'outcome', 'adverse_events', 'enrolled_on']);
  assert.ok(carlos.participant_id.every(id => /^tok_[0-9a-f]{16}$/.test(text(id))), 'participant ids tokenized');
  assert.equal(new Set(carlos.participant_id).size, every.length, 'tokens stay distinct');
  assert.deepEqual(carlos.adverse_events, every.map(row => (placebo(row) ? '[blinded]' : raw.adverse_events[row])));
});
