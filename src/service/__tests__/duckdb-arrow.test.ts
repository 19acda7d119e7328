/** The DuckDB to Arrow path: every supported type, nulls anywhere, several chunks and batches. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBEngine } from '../engine/duckdb';
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
