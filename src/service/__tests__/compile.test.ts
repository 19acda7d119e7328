import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { MaskSpec } from '../../common/api';
import { CompiledScan, PlanError, ScanPlan, compileScan } from '../engine/compile';
import { duckdbDialect } from '../engine/duckdb';
import { postgresDialect } from '../engine/postgres';
import { Decision } from '../policy/decide';
import { parseExpression } from '../policy/parse';

const keys = { hash: 'hash-key', token: 'token-key' };
const columns = [
  { name: 'id', type: 'INTEGER' },
  { name: 'ssn', type: 'VARCHAR' },
  { name: 'email', type: 'VARCHAR' },
  { name: 'dob', type: 'DATE' },
  { name: 'salary', type: 'DOUBLE' },
  { name: 'age', type: 'INTEGER' },
  { name: 'country', type: 'VARCHAR' },
  { name: 'odd name "x"', type: 'VARCHAR' }
];

let instance: DuckDBInstance;
let connection: DuckDBConnection;

before(async () => {
  instance = await DuckDBInstance.create(':memory:');
  connection = await instance.connect();
  await connection.run(`CREATE TABLE people AS SELECT * FROM (VALUES
    (1, '123-45-6789', 'ann@example.com', DATE '1980-05-17', 81234.567, 37, 'US', 'a'),
    (2, '987-65-4321', 'bob@corp.example.org', DATE '1991-12-01', 45000.0, 52, 'DE', 'b'),
    (3, NULL, NULL, NULL, NULL, NULL, 'US', 'c')
  ) AS t(id, ssn, email, dob, salary, age, country, "odd name ""x""")`);
});

after(() => {
  connection.closeSync();
  instance.closeSync();
});

function decision(masks: Record<string, MaskSpec> = {}, extra: Partial<Decision> = {}): Decision {
  return {
    allowed: true,
    rowFilters: [],
    policies: [],
    columns: columns.map(column => ({
      name: column.name,
      mask: masks[column.name],
      cellMasks: [],
      effect: { access: masks[column.name] ? 'masked' : 'clear', description: '', cellMasks: [] }
    })),
    ...extra
  };
}

function compile(d: Decision, plan: ScanPlan = {}): CompiledScan {
  return compileScan(d, columns, plan, duckdbDialect, keys, () => 'people');
}

async function run(compiled: CompiledScan): Promise<Record<string, unknown>[]> {
  const reader = await connection.runAndReadAll(compiled.sql, compiled.params);
  return reader.getRowObjectsJson() as Record<string, unknown>[];
}

async function maskedValues(column: string, mask: MaskSpec): Promise<unknown[]> {
  const rows = await run(compile(decision({ [column]: mask }), { columns: [column] }));
  return rows.map(row => row[column]);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

for (const dialect of [duckdbDialect, postgresDialect]) {
  test(`${dialect.name}: every value is a bound parameter and every identifier is quoted`, () => {
    const d = decision({ ssn: { type: 'redact', value: "x'); DROP TABLE people; --" } }, {
      rowFilters: [{ policy: 'p', expr: parseExpression("country = 'US'' OR 1=1 --'") }]
    });
    const filter = parseExpression('"odd name ""x""" = \'a\' AND age > 40.5');
    const compiled = compileScan(d, columns, { filter, limit: 5 }, dialect, keys, () => 'people');
    assert.doesNotMatch(compiled.sql, /DROP TABLE|OR 1=1|'US'|40\.5/);
    assert.match(compiled.sql, /"odd name ""x"""/);
    assert.deepEqual(compiled.params, ["US' OR 1=1 --", "x'); DROP TABLE people; --", 'a', 40.5, 5]);
  });
}

test('enforcement order: row filter on raw values, masks, then the caller filter on masked values', async () => {
  const d = decision({ ssn: { type: 'show_last', n: 4 } }, { rowFilters: [{ policy: 'us', expr: parseExpression("country = 'US'") }] });
  // The caller cannot match the raw SSN: it only ever sees masked values.
  assert.deepEqual(await run(compile(d, { filter: parseExpression("ssn = '123-45-6789'") })), []);
  assert.deepEqual(await run(compile(d, { filter: parseExpression("ssn = '*******6789'"), columns: ['id'] })), [{ id: 1 }]);
  // Rows outside the row filter are invisible even to a filter that would select them.
  assert.deepEqual(await run(compile(d, { filter: parseExpression("country = 'DE'"), columns: ['id'] })), []);
});

test('hidden columns cannot be projected, filtered or ordered on', () => {
  const d = decision({ salary: { type: 'hide' } });
  for (const plan of [{ columns: ['salary'] }, { filter: parseExpression('salary > 1') }, { orderBy: [{ column: 'salary', descending: true }] }]) {
    assert.throws(() => compile(d, plan), (error: unknown) => error instanceof PlanError && error.code === 'unknown_column' && /salary/.test(error.message));
  }
  assert.equal(compile(d).columns.some(column => column.name === 'salary'), false);
});

test('ordering by a masked column orders by the masked value, not the raw one', async () => {
  const d = decision({ salary: { type: 'null' } });
  const rows = await run(compile(d, { orderBy: [{ column: 'salary', descending: true }, { column: 'id', descending: true }], columns: ['id'] }));
  assert.deepEqual(rows.map(row => row.id), [3, 2, 1]);
});

test('mask: redact (default and custom text)', async () => {
  assert.deepEqual(await maskedValues('ssn', { type: 'redact' }), ['***', '***', '***']);
  assert.deepEqual(await maskedValues('age', { type: 'redact', value: 'n/a' }), ['n/a', 'n/a', 'n/a']);
});

test('mask: null keeps the type', async () => {
  assert.deepEqual(await maskedValues('dob', { type: 'null' }), [null, null, null]);
  assert.equal(compile(decision({ dob: { type: 'null' } })).columns.find(c => c.name === 'dob')!.type, 'DATE');
});

test('mask: hash is a keyed SHA-256, not the plain hash a dictionary would reverse', async () => {
  const values = await maskedValues('ssn', { type: 'hash' });
  assert.deepEqual(values, [sha256('hash-key123-45-6789'), sha256('hash-key987-65-4321'), null]);
  assert.notEqual(values[0], sha256('123-45-6789'));
});

test('mask: tokenize is deterministic and keyed', async () => {
  const values = await maskedValues('email', { type: 'tokenize' });
  assert.deepEqual(values, ['tok_' + sha256('token-keyann@example.com').slice(0, 16), 'tok_' + sha256('token-keybob@corp.example.org').slice(0, 16), null]);
  assert.deepEqual(await maskedValues('email', { type: 'tokenize' }), values);
});

test('mask: show first / last N', async () => {
  assert.deepEqual(await maskedValues('ssn', { type: 'show_last', n: 4 }), ['*******6789', '*******4321', null]);
  assert.deepEqual(await maskedValues('ssn', { type: 'show_first', n: 3 }), ['123********', '987********', null]);
  assert.deepEqual(await maskedValues('ssn', { type: 'show_first', n: 50 }), ['123-45-6789', '987-65-4321', null]);
});

test('mask: year only', async () => {
  assert.deepEqual(await maskedValues('dob', { type: 'year_only' }), [1980, 1991, null]);
});

test('mask: round and bucket', async () => {
  assert.deepEqual(await maskedValues('salary', { type: 'round', digits: -3 }), [81000, 45000, null]);
  assert.deepEqual(await maskedValues('salary', { type: 'round', digits: 1 }), [81234.6, 45000, null]);
  assert.deepEqual(await maskedValues('age', { type: 'bucket', width: 10 }), ['30', '50', null]);
});

test('mask: email domain only', async () => {
  assert.deepEqual(await maskedValues('email', { type: 'email_domain' }), ['***@example.com', '***@corp.example.org', null]);
});

test('a mask that does not fit the type fails closed to redaction', async () => {
  assert.deepEqual(await maskedValues('ssn', { type: 'year_only' }), ['***', '***', '***']);
  assert.deepEqual(await maskedValues('email', { type: 'round', digits: 0 }), ['***', '***', '***']);
});

test('cell masks apply where the condition holds on raw values, or is unknown', async () => {
  const d = decision();
  d.columns.find(c => c.name === 'ssn')!.cellMasks = [{ policy: 'de-only', mask: { type: 'redact' }, when: parseExpression("country = 'DE'") }];
  d.columns.find(c => c.name === 'email')!.cellMasks = [{ policy: 'null-age', mask: { type: 'redact' }, when: parseExpression('age > 40') }];
  const rows = await run(compile(d, { columns: ['ssn', 'email'] }));
  assert.deepEqual(rows, [
    { ssn: '123-45-6789', email: 'ann@example.com' },
    { ssn: '***', email: '***' },
    { ssn: null, email: '***' }
  ]);
});

test('a cell mask less restrictive than the column mask does not weaken it', async () => {
  const d = decision({ ssn: { type: 'hash' } });
  d.columns.find(c => c.name === 'ssn')!.cellMasks = [{ policy: 'weak', mask: { type: 'show_last', n: 4 }, when: parseExpression('TRUE') }];
  const rows = await run(compile(d, { columns: ['ssn'] }));
  assert.equal(rows[0].ssn, sha256('hash-key123-45-6789'));
});

test('a cell mask more restrictive than the column mask wins on its rows, with a text type when types differ', async () => {
  const d = decision({ age: { type: 'bucket', width: 10 } });
  d.columns.find(c => c.name === 'age')!.cellMasks = [{ policy: 'strong', mask: { type: 'redact' }, when: parseExpression("country = 'DE'") }];
  const compiled = compile(d, { columns: ['age'] });
  assert.equal(compiled.columns[0].type, 'VARCHAR');
  assert.deepEqual((await run(compiled)).map(row => row.age), ['30', '***', null]);
});
