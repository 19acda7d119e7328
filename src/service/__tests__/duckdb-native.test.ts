/**
 * The native DuckDB-to-Arrow path (engine/duckdb/native/) against the JavaScript one
 * (engine/duckdb/chunks.ts): the same schema, nulls and values for every DuckDB type, at chunk
 * and batch boundaries, for empty results and very long strings; errors in the middle of a
 * result reach the consumer; memory stays bounded while the consumer does not read.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RecordBatch } from 'apache-arrow';
import { CompiledScan } from '../engine/compile';
import { DuckDBEngine } from '../engine/duckdb';
import { nativeArrowBytes, nativeArrowProblem } from '../engine/duckdb/native';

let engine: DuckDBEngine;

/**
 * A full collection (the test runner does not expose gc), then a turn of the event loop, where
 * Node-API runs the finalizers that unmap the buffers of the batches nobody holds.
 */
async function collected(): Promise<void> {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  await new Promise(resolve => setImmediate(resolve));
  await new Promise(resolve => setImmediate(resolve));
}

before(async () => {
  engine = await DuckDBEngine.create();
});

after(async () => {
  await engine.close();
});

function compiled(sql: string, names: string[]): CompiledScan {
  return { sql, params: [], columns: names.map(name => ({ name, type: '', access: 'clear', cellMasked: false })) };
}

async function batchesOf(sql: string, names: string[], path: 'native' | 'js'): Promise<RecordBatch[]> {
  const previous = process.env.WARDEN_DUCKDB_ARROW;
  process.env.WARDEN_DUCKDB_ARROW = path;
  try {
    const result = await engine.stream(compiled(sql, names), new Map());
    const batches: RecordBatch[] = [];
    for await (const batch of result.batches) batches.push(batch);
    return batches;
  } finally {
    if (previous === undefined) delete process.env.WARDEN_DUCKDB_ARROW;
    else process.env.WARDEN_DUCKDB_ARROW = previous;
  }
}

/** Column by column, row by row: null or the value (apache-arrow's reading of the buffers). */
function columns(batches: RecordBatch[], names: string[]): Record<string, unknown[]> {
  return Object.fromEntries(names.map(name => [name, batches.flatMap(batch => [...batch.getChild(name)!])]));
}

/** Runs `sql` on both paths and checks that they agree; returns the batches of each. */
async function bothPathsAgree(sql: string, names: string[]): Promise<{ native: RecordBatch[]; js: RecordBatch[] }> {
  const native = await batchesOf(sql, names, 'native');
  const js = await batchesOf(sql, names, 'js');
  const schema = (batches: RecordBatch[]) => batches[0]?.schema.fields.map(field => `${field.name}: ${field.type}`);
  assert.deepEqual(schema(native), schema(js));
  const nativeColumns = columns(native, names);
  const jsColumns = columns(js, names);
  for (const name of names) {
    assert.equal(nativeColumns[name].length, jsColumns[name].length, name);
    nativeColumns[name].forEach((value, row) => assert.deepEqual(value, jsColumns[name][row], `${name}, row ${row}`));
  }
  return { native, js };
}

test('the addon is built and loads (scripts/build-native.mjs)', () => {
  assert.equal(nativeArrowProblem(), undefined);
});

test('every type the addon converts gives what the JavaScript path gives, nulls included, across chunks and batches', async () => {
  // 100,000 rows: 49 DuckDB chunks, several batches; the filter leaves chunks of odd sizes,
  // so validity and boolean bits land at every offset within a byte.
  const names = ['b', 'ti', 'si', 'i', 'bi', 'uti', 'usi', 'ui', 'ubi', 'f', 'd', 'dec4', 'dec9', 'dec18', 'dec38', 'dt', 'ts', 'tstz', 's'];
  const sql = `SELECT
      CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END AS b,
      CASE WHEN i % 5 = 0 THEN NULL ELSE CAST(i % 100 - 50 AS TINYINT) END AS ti,
      CAST(i % 30000 AS SMALLINT) AS si,
      CASE WHEN i % 7 = 0 THEN NULL ELSE CAST(i AS INTEGER) - 50000 END AS i,
      CAST(i AS BIGINT) * -1000000007 AS bi,
      CAST(i % 250 AS UTINYINT) AS uti,
      CASE WHEN i % 11 = 0 THEN NULL ELSE CAST(i % 60000 AS USMALLINT) END AS usi,
      CAST(i * 30000 AS UINTEGER) AS ui,
      CASE WHEN i % 13 = 0 THEN NULL ELSE CAST(i AS UBIGINT) * 184467440737 END AS ubi,
      CASE WHEN i % 17 = 0 THEN NULL ELSE CAST(i / 7 AS FLOAT) END AS f,
      CASE WHEN i % 19 = 0 THEN NULL ELSE i / 3.0 - 1e6 END AS d,
      CAST(i % 1000 / 10 AS DECIMAL(4, 1)) AS dec4,
      CASE WHEN i % 23 = 0 THEN NULL ELSE CAST(i / 1000 - 50 AS DECIMAL(9, 3)) END AS dec9,
      CAST(i * 1234.567891 AS DECIMAL(18, 6)) AS dec18,
      CASE WHEN i % 29 = 0 THEN NULL ELSE CAST(i AS DECIMAL(38, 10)) * 1e15 / 7 END AS dec38,
      CASE WHEN i % 31 = 0 THEN NULL ELSE DATE '1900-01-01' + CAST(i AS INTEGER) END AS dt,
      TIMESTAMP '1969-12-31 23:00:00' + to_microseconds(i * 1000003) AS ts,
      CASE WHEN i % 37 = 0 THEN NULL ELSE TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i) END AS tstz,
      CASE WHEN i % 41 = 0 THEN NULL WHEN i % 4 = 0 THEN '' WHEN i % 4 = 1 THEN 'inline ' || i
           ELSE 'past twelve bytes, with ünïcödé, row ' || i END AS s
    FROM range(110000) t(i) WHERE i % 11 <> 5 ORDER BY i`;
  const { native, js } = await bothPathsAgree(sql, names);
  assert.equal(native.reduce((rows, batch) => rows + batch.numRows, 0), 100_000);
  // The paths cut batches differently (bytes, rows): the native one did take it.
  assert.notDeepEqual(native.map(batch => batch.numRows), js.map(batch => batch.numRows));
});

test('values under nulls are zeros, not what DuckDB left in its memory', async () => {
  // A filter keeps some rows of each vector; the nulls' slots in DuckDB's memory hold other values.
  const batches = await batchesOf(`SELECT CASE WHEN i % 2 = 0 THEN NULL ELSE i * 7919 END AS v FROM range(50000) t(i) WHERE i % 3 <> 0`, ['v'], 'native');
  let nulls = 0;
  for (const batch of batches) {
    const data = batch.getChild('v')!.data[0];
    for (let row = 0; row < data.length; row++) {
      if (!data.getValid(row)) {
        nulls++;
        assert.equal(data.values[row], 0n, `row ${row}`);
      }
    }
  }
  assert.ok(nulls > 10_000);
});

test('types the addon does not convert take the JavaScript path whole, with the same answer', async () => {
  const names = ['id', 'u', 'iv', 'blob', 'hi', 'tm', 'e', 'l', 's'];
  const sql = `SELECT i AS id, CAST('00000000-0000-4000-8000-' || lpad(CAST(i AS VARCHAR), 12, '0') AS UUID) AS u,
      to_days(CAST(i AS INTEGER)) AS iv, CAST('bytes ' || i AS BLOB) AS blob, CAST(i AS HUGEINT) * 1000000000000000000000 AS hi,
      TIME '12:00:00' + to_seconds(i) AS tm, CAST(['a', 'b'][i % 2 + 1] AS ENUM('a', 'b')) AS e, [i, i + 1] AS l,
      CASE WHEN i % 3 = 0 THEN NULL ELSE 'text ' || i END AS s
    FROM range(5000) t(i) ORDER BY i`;
  await bothPathsAgree(sql, names);
});

test('an empty result gives no batch on either path', async () => {
  assert.deepEqual(await batchesOf(`SELECT i, 'x' AS s FROM range(10) t(i) WHERE i > 100`, ['i', 's'], 'native'), []);
  assert.deepEqual(await batchesOf(`SELECT i, 'x' AS s FROM range(10) t(i) WHERE i > 100`, ['i', 's'], 'js'), []);
});

test('very long strings: batches close by bytes, every byte arrives', async () => {
  // 8,192 rows (4 chunks) of 10 kB, every 1,000th of 2 MB: about 100 MB, so batches end at
  // their byte limit (4 MB, checked between chunks: a batch a chunk), not at a row count.
  const length = (i: number) => (i % 1000 === 0 ? 2_000_000 : 10_000);
  const sql = `SELECT i, repeat(chr(65 + CAST(i % 26 AS INTEGER)), CASE WHEN i % 1000 = 0 THEN 2000000 ELSE 10000 END) || i AS s
    FROM range(8192) t(i) ORDER BY i`;
  const { native } = await bothPathsAgree(sql, ['i', 's']);
  assert.equal(native.length, 4);
  (columns(native, ['s']).s as string[]).forEach((value, i) => {
    assert.equal(value.length, length(i) + String(i).length);
    assert.equal(value[length(i) - 1], String.fromCharCode(65 + (i % 26)));
  });
});

test('an error in the middle of a result reaches the consumer, after the rows before it', async () => {
  delete process.env.WARDEN_DUCKDB_ARROW;
  const sql = `SELECT i, CAST(CASE WHEN i = 9000000 THEN 'x' ELSE '1' END AS INTEGER) AS v FROM range(10000000) t(i)`;
  const result = await engine.stream(compiled(sql, ['i', 'v']), new Map());
  let rows = 0;
  // DuckDB reports the failing thread's error, or now and then (a race among its threads) the
  // interruption of the others: either way the consumer learns that the result is incomplete.
  await assert.rejects(async () => {
    for await (const batch of result.batches) rows += batch.numRows;
  }, /Could not convert string 'x' to INT32|INTERRUPT Error/);
  assert.ok(rows > 0 && rows <= 9_000_000, `${rows} rows before the error`);
});

test('a consumer that stops reading holds the fetching back: memory stays bounded', async () => {
  delete process.env.WARDEN_DUCKDB_ARROW;
  // 20M rows of 60-byte strings: 1.3 GB of Arrow if fetched ahead without bound.
  const sql = `SELECT i, 'a string of sixty bytes, give or take a few, for row ' || i AS s FROM range(20000000) t(i)`;
  const result = await engine.stream(compiled(sql, ['i', 's']), new Map());
  const iterator = result.batches[Symbol.asyncIterator]();
  assert.ok(!(await iterator.next()).done);
  // The producer fills its queue, then waits: poll until the addon's memory stops growing.
  let held = -1;
  for (let i = 0; i < 40 && nativeArrowBytes() !== held; i++) {
    held = nativeArrowBytes();
    await new Promise(resolve => setTimeout(resolve, 250));
  }
  await collected();
  // The queue (up to 8 MB and the batch that crossed it), a batch being built (4 MB), in
  // buffers of up to twice their length (they grow by doubling).
  assert.ok(nativeArrowBytes() < 64 * 1024 * 1024, `the addon holds ${nativeArrowBytes() / 1e6} MB`);
  await iterator.return?.(undefined);
  // A batch the worker thread was filling when the consumer left is freed once it finishes
  // (later on a loaded machine): wait for that, within a bound.
  for (let i = 0; i < 50; i++) {
    await collected();
    if (nativeArrowBytes() < 1024 * 1024) break;
    await new Promise(resolve => setTimeout(resolve, 200));
  }
  assert.ok(nativeArrowBytes() < 1024 * 1024, `after the scan the addon still holds ${nativeArrowBytes() / 1e6} MB`);
});
