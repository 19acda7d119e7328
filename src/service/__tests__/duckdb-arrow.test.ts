/** The DuckDB to Arrow path: every supported type, nulls anywhere, several chunks and batches. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDBEngine, queryShape, streamingBuffer } from '../engine/duckdb';
import { CompiledScan } from '../engine/compile';

test('values and nulls survive the raw-memory copy for every type', async () => {
  const engine = await DuckDBEngine.create();
  try {
    // 5,000 rows span three DuckDB chunks; null patterns differ per column and fall off byte boundaries.
    const sql = `SELECT
        CASE WHEN i % 3 = 0 THEN NULL ELSE CAST(i AS INTEGER) END AS int_col,
        CASE WHEN i % 5 = 1 THEN NULL ELSE CAST(i * 1000000000 AS BIGINT) END AS big_col,
        CASE WHEN i % 7 = 2 THEN NULL ELSE i / 4.0 END AS double_col,
        CASE WHEN i % 11 = 3 THEN NULL ELSE CAST(i AS DECIMAL(10, 2)) / 8 END AS decimal_col,
        CASE WHEN i % 13 = 4 THEN NULL ELSE i % 2 = 0 END AS bool_col,
        CASE WHEN i % 4 = 0 THEN NULL ELSE DATE '2000-01-01' + CAST(i AS INTEGER) END AS date_col,
        CASE WHEN i % 6 = 0 THEN NULL ELSE TIMESTAMP '2020-01-01 00:00:00' + to_seconds(i) END AS ts_col,
        CASE WHEN i % 9 = 0 THEN NULL WHEN i % 2 = 0 THEN 'short' || i ELSE 'a much longer string, past twelve bytes ' || i || ' é' END AS text_col,
        CAST(i AS SMALLINT) AS small_col
      FROM range(5000) t(i) ORDER BY i`;
    const names = ['int_col', 'big_col', 'double_col', 'decimal_col', 'bool_col', 'date_col', 'ts_col', 'text_col', 'small_col'];
    const scan: CompiledScan = { sql, params: [], columns: names.map(name => ({ name, type: '', access: 'clear', cellMasked: false })) };
    const result = await engine.stream(scan, new Map());
    const received: Record<string, unknown>[] = [];
    for await (const batch of result.batches) {
      for (const row of batch) received.push(row!.toJSON() as Record<string, unknown>);
    }
    assert.equal(received.length, 5000);
    received.forEach((row, i) => {
      assert.deepEqual(
        { ...row },
        {
          int_col: i % 3 === 0 ? null : i,
          big_col: i % 5 === 1 ? null : BigInt(i) * 1_000_000_000n,
          double_col: i % 7 === 2 ? null : i / 4,
          decimal_col: i % 11 === 3 ? null : Math.round((i / 8) * 1e6) / 1e6,
          bool_col: i % 13 === 4 ? null : i % 2 === 0,
          date_col: i % 4 === 0 ? null : Date.UTC(2000, 0, 1) + i * 86_400_000,
          ts_col: i % 6 === 0 ? null : Date.UTC(2020, 0, 1) + i * 1000,
          text_col: i % 9 === 0 ? null : i % 2 === 0 ? `short${i}` : `a much longer string, past twelve bytes ${i} é`,
          small_col: i
        },
        `row ${i}`
      );
    });
  } finally {
    await engine.close();
  }
});

test('strings come through whatever DuckDB points at: Parquet dictionaries, string heaps, long and empty values', async () => {
  const engine = await DuckDBEngine.create();
  const dir = mkdtempSync(join(tmpdir(), 'warden-strings-'));
  try {
    // A Parquet file: `site` is dictionary-encoded (pointers in random order into a dictionary),
    // `id` plain-encoded; the query adds strings computed into DuckDB's own string heap.
    const file = join(dir, 'strings.parquet');
    const long = 'x'.repeat(5000);
    const setup = await DuckDBInstance.create(':memory:');
    const connection = await setup.connect();
    await connection.run(`COPY (
        SELECT i,
          'participant-' || lpad(CAST(i AS VARCHAR), 9, '0') AS id,
          ['General Hospital Boston', 'Clinic', 'Università di Bologna — Policlinico', ''][CAST(hash(i) % 4 AS INTEGER) + 1] AS site,
          CASE WHEN i % 7 = 0 THEN NULL WHEN i % 500 = 1 THEN '${long}' || i ELSE 'short' END AS rare
        FROM range(30000) t(i) ORDER BY i
      ) TO '${file}' (FORMAT parquet, ROW_GROUP_SIZE 5000)`);
    connection.closeSync();
    setup.closeSync();
    const sql = `SELECT id, site, rare, repeat('*', CAST(i % 40 AS INTEGER)) || right(id, 4) AS masked
      FROM read_parquet('${file}') WHERE i % 3 <> 1 ORDER BY i`;
    const names = ['id', 'site', 'rare', 'masked'];
    const scan: CompiledScan = { sql, params: [], columns: names.map(name => ({ name, type: '', access: 'clear', cellMasked: false })) };
    const result = await engine.stream(scan, new Map());
    const received: Record<string, unknown>[] = [];
    for await (const batch of result.batches) {
      for (const row of batch) received.push({ ...(row!.toJSON() as Record<string, unknown>) });
    }
    const sites = ['General Hospital Boston', 'Clinic', 'Università di Bologna — Policlinico', ''];
    const expected = await (async () => {
      const check = await DuckDBInstance.create(':memory:');
      const c = await check.connect();
      const reader = await c.runAndReadAll(`SELECT i, CAST(hash(i) % 4 AS INTEGER) AS s FROM range(30000) t(i) WHERE i % 3 <> 1 ORDER BY i`);
      const rows = reader.getRowObjectsJS();
      c.closeSync();
      check.closeSync();
      return rows.map(row => {
        const i = Number(row.i);
        const id = `participant-${String(i).padStart(9, '0')}`;
        return {
          id,
          site: sites[Number(row.s)],
          rare: i % 7 === 0 ? null : i % 500 === 1 ? long + i : 'short',
          masked: '*'.repeat(i % 40) + id.slice(-4)
        };
      });
    })();
    assert.equal(received.length, expected.length);
    received.forEach((row, index) => assert.deepEqual(row, expected[index], `row ${index}`));
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a consumer that stops early ends the query; batches are whole', async () => {
  const engine = await DuckDBEngine.create();
  try {
    const sql = `SELECT i, 'value number ' || i AS text FROM range(1000000) t(i)`;
    const scan: CompiledScan = { sql, params: [], columns: ['i', 'text'].map(name => ({ name, type: '', access: 'clear', cellMasked: false })) };
    const result = await engine.stream(scan, new Map());
    let rows = 0;
    for await (const batch of result.batches) {
      assert.equal(batch.getChild('text')!.get(0), `value number ${rows}`);
      rows += batch.numRows;
      if (rows > 100_000) break;
    }
    assert.ok(rows > 100_000 && rows < 1_000_000);
    // The engine is still usable: the connection of the abandoned query was closed, not leaked.
    const again = await engine.stream({ ...scan, sql: 'SELECT 42 AS i, NULL AS text' }, new Map());
    const batches = [];
    for await (const batch of again.batches) batches.push(batch);
    assert.equal(batches[0].getChild('i')!.get(0), 42);
  } finally {
    await engine.close();
  }
});

test('sparse and dense results stream every row in order (the chunks read to size the buffer are kept or re-read)', async () => {
  assert.equal(streamingBuffer(16 * 2048, 16), 8 * 1024 * 1024);
  assert.equal(streamingBuffer(16 * 205, 16), Math.floor((48 * 1024 * 1024 * 205) / 2048));
  assert.equal(streamingBuffer(16 * 2, 16), 256 * 1024);
  // Names and literals cannot pass for clauses.
  assert.deepEqual(queryShape(`SELECT "WHERE x", 'ORDER BY' FROM t`), { filters: false, sorts: false });
  assert.deepEqual(queryShape(`SELECT "a""WHERE" FROM t WHERE (a = $1) ORDER BY "b" DESC`), { filters: true, sorts: true });
  const engine = await DuckDBEngine.create();
  try {
    for (const [every, rows] of [[1000, 3000], [1, 300_000]]) {
      // Sparse: two rows a chunk, so the first chunks are kept; dense: full chunks, so the scan restarts.
      const sql = `SELECT i, 'row ' || i AS text FROM range(${every * rows}) t(i) WHERE i % ${every} = 0`;
      const scan: CompiledScan = { sql, params: [], columns: ['i', 'text'].map(name => ({ name, type: '', access: 'clear', cellMasked: false })) };
      const result = await engine.stream(scan, new Map());
      let n = 0;
      for await (const batch of result.batches) {
        const ids = batch.getChild('i')!;
        const texts = batch.getChild('text')!;
        for (let r = 0; r < batch.numRows; r++, n++) {
          assert.equal(ids.get(r), BigInt(n * every));
          assert.equal(texts.get(r), `row ${n * every}`);
        }
      }
      assert.equal(n, rows);
    }
  } finally {
    await engine.close();
  }
});
