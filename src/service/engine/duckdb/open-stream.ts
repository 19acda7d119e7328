/** Starting a DuckDB streaming query with a streaming buffer sized for its result. */
import { DuckDBConnection, DuckDBDataChunk, DuckDBResult } from '@duckdb/node-api';
import { CompiledScan } from '../compile';

/**
 * How far DuckDB may run ahead of the fetches of a streaming result (`streaming_buffer_size`).
 *
 * Too little and a filtered Parquet scan runs on one thread: to keep insertion order, a thread
 * ahead of the oldest row group may buffer only 40% of it, and waits when that is less than a
 * row group's output (DuckDB's default, about 1 MB, halved the speed of a 10M-row scan keeping
 * 20% of rows on 2 cores). Too much, and memory: DuckDB counts a buffered chunk as its rows
 * times their type widths, but each holds a 2,048-row allocation, so with a selective filter
 * (10 rows a chunk) 1 MB of "buffer" held 200 MB.
 *
 * So a filtered scan starts with a small buffer and reads PROBE_CHUNKS chunks; if their rows
 * per chunk say a larger buffer would really hold no more than BUFFER_REAL_BYTES (48 MB: about
 * 1.6 row groups of output ahead, enough for a second thread), it starts again with that
 * buffer (up to MAX_BUFFER), dropping what it read, unless reading it took over
 * RESTART_WITHIN_MS. Chunks further on may be sparser than the first ones: then the buffer
 * holds more than planned (docs/benchmarks.md).
 */
const PROBE_BUFFER = 256 * 1024;
export const MAX_BUFFER = 8 * 1024 * 1024;
const BUFFER_REAL_BYTES = 48 * 1024 * 1024;
const PROBE_CHUNKS = 16;
const RESTART_WITHIN_MS = 1000;

/** Bytes of `streaming_buffer_size` for a scan, from the rows per chunk of its first chunks. */
export function streamingBuffer(rows: number, chunks: number): number {
  const buffer = Math.floor((BUFFER_REAL_BYTES * rows) / (chunks * 2048));
  return Math.max(PROBE_BUFFER, Math.min(MAX_BUFFER, buffer));
}

/**
 * What a compiled query does, from its text with quoted names and literals blanked out (values
 * are bound parameters, never in the text): whether it filters, whether it sorts.
 */
export function queryShape(sql: string): { filters: boolean; sorts: boolean } {
  const bare = sql.replace(/"(?:[^"]|"")*"/g, '""').replace(/'(?:[^']|'')*'/g, "''");
  return { filters: /\bWHERE\b/i.test(bare), sorts: /\bORDER\s+BY\b/i.test(bare) };
}

/**
 * What a DuckDB stream that failed after it started says on the JavaScript path (DuckDB's own
 * words are lost there: see nextChunk; the native path, native.ts, has them).
 */
export const STREAM_FAILED = 'DuckDB ended the stream with an error (the node bindings do not give its text)';

/**
 * The next chunk of a streaming result, or null at its end. DuckDB ends a stream that failed
 * exactly as one that is exhausted (`duckdb_fetch_chunk` gives NULL for both, and the error in
 * `duckdb_result_error` is not exposed to Node), which would pass a truncated answer off as
 * complete. A failed result no longer counts as streaming: that tells the two apart.
 */
export async function nextChunk(result: DuckDBResult): Promise<DuckDBDataChunk | null> {
  const chunk = await result.fetchChunk();
  if (chunk && chunk.rowCount > 0) return chunk;
  if (!result.isStreaming) throw new Error(STREAM_FAILED);
  return null;
}

/**
 * Starts a scan with the streaming buffer its density calls for (see PROBE_BUFFER): the
 * result, and the chunks already read from it (none after a restart). Without a filter, or
 * after a sort, chunks are full, so the largest buffer is safe and no probe is needed.
 */
export async function openStream(connection: DuckDBConnection, scan: CompiledScan): Promise<{ result: DuckDBResult; probed: DuckDBDataChunk[]; ended: boolean }> {
  const shape = queryShape(scan.sql);
  if (!shape.filters || shape.sorts) {
    await connection.run(`SET streaming_buffer_size = '${MAX_BUFFER}B'`);
    return { result: await connection.stream(scan.sql, scan.params), probed: [], ended: false };
  }
  await connection.run(`SET streaming_buffer_size = '${PROBE_BUFFER}B'`);
  const started = performance.now();
  const result = await connection.stream(scan.sql, scan.params);
  const probed: DuckDBDataChunk[] = [];
  let rows = 0;
  while (probed.length < PROBE_CHUNKS) {
    const chunk = await nextChunk(result);
    if (!chunk) return { result, probed, ended: true };
    probed.push(chunk);
    rows += chunk.rowCount;
  }
  const buffer = streamingBuffer(rows, probed.length);
  // Starting again repeats the work so far (about 150 ms for the 10M-row benchmark scan):
  // not when that was slow.
  if (buffer < 2 * PROBE_BUFFER || performance.now() - started > RESTART_WITHIN_MS) return { result, probed, ended: false };
  // A new statement closes the first result; its chunks are dropped unsent.
  await connection.run(`SET streaming_buffer_size = '${buffer}B'`);
  return { result: await connection.stream(scan.sql, scan.params), probed: [], ended: false };
}
