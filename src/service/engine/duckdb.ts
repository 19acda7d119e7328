/** The DuckDB adapter: reads CSV, Parquet and JSON-lines files in-process. */
import { DuckDBConnection, DuckDBDataChunk, DuckDBInstance, DuckDBResult, DuckDBTypeId } from '@duckdb/node-api';
import bindings from '@duckdb/node-bindings';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Source } from '../config/types';
import { AUDIT_COLUMNS } from '../audit/record';
import type { RecordBatch, Schema } from 'apache-arrow';
import { ArrowKind, ArrowValue, ColumnBuilder, recordBatch, scanSchema } from './arrow';
import { CompiledScan, SourceColumn } from './compile';
import { duckdbDialect } from './dialect';
import { ArrowResult, QueryEngine, SourceError } from './engine';
import { Params, quoteIdent } from './sql';

/**
 * Rows per Arrow record batch (DuckDB hands out chunks of at most 2,048 rows). Past about
 * 16,000 rows, larger batches did not stream faster; each batch in flight costs memory.
 */
const BATCH_ROWS = 32_768;

/** Finished batches the fetching may run ahead of a slow consumer by (see batchesOf). */
const QUEUE_BYTES = 16 * 1024 * 1024;

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
 * So a scan starts with a small buffer and reads PROBE_CHUNKS chunks; if their rows per chunk
 * say a larger buffer would really hold no more than BUFFER_REAL_BYTES (48 MB: about 1.6 row
 * groups of output ahead, enough for a second thread), it starts again with that buffer (up to
 * MAX_BUFFER), dropping what it read. Chunks further on may be sparser than the first ones:
 * then the buffer holds more than planned (docs/benchmarks.md).
 */
const PROBE_BUFFER = 256 * 1024;
export const MAX_BUFFER = 8 * 1024 * 1024;
const BUFFER_REAL_BYTES = 48 * 1024 * 1024;
const PROBE_CHUNKS = 16;

const KIND_BY_TYPE: Partial<Record<DuckDBTypeId, ArrowKind>> = {
  [DuckDBTypeId.BOOLEAN]: 'bool',
  [DuckDBTypeId.TINYINT]: 'int8',
  [DuckDBTypeId.SMALLINT]: 'int16',
  [DuckDBTypeId.INTEGER]: 'int32',
  [DuckDBTypeId.BIGINT]: 'int64',
  [DuckDBTypeId.UTINYINT]: 'uint8',
  [DuckDBTypeId.USMALLINT]: 'uint16',
  [DuckDBTypeId.UINTEGER]: 'uint32',
  [DuckDBTypeId.UBIGINT]: 'uint64',
  [DuckDBTypeId.FLOAT]: 'float32',
  [DuckDBTypeId.DOUBLE]: 'float64',
  [DuckDBTypeId.DECIMAL]: 'float64',
  [DuckDBTypeId.DATE]: 'date',
  [DuckDBTypeId.TIMESTAMP]: 'timestamp',
  [DuckDBTypeId.TIMESTAMP_TZ]: 'timestamptz',
  [DuckDBTypeId.VARCHAR]: 'utf8'
};

/**
 * A fetched DuckDB chunk (about 2,048 rows' worth of vectors, whatever its row count) is freed
 * only when V8 collects its JavaScript handle, and V8 does not know about that native memory:
 * a fast scan that allocates little in JavaScript (a selective filter) piled up over 100 MB of
 * dead chunks between collections. So after every CHUNK_GC_BYTES of fetched chunks, a
 * young-generation collection (a scavenge, well under a millisecond here) frees them.
 */
const CHUNK_GC_BYTES = 16 * 1024 * 1024;
const collectYoung: () => void = (() => {
  try {
    let gc = (globalThis as { gc?: (options?: object) => void }).gc;
    if (!gc) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as (options?: object) => void;
      setFlagsFromString('--no-expose-gc');
    }
    const collect = gc;
    return () => collect({ type: 'minor' });
  } catch {
    return () => undefined;
  }
})();

/** Bytes of DuckDB vector memory per row of a chunk, by type (strings: their 16-byte headers). */
function vectorWidth(typeId: DuckDBTypeId): number {
  switch (typeId) {
    case DuckDBTypeId.BOOLEAN:
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.UTINYINT:
      return 1;
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.USMALLINT:
      return 2;
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DATE:
      return 4;
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return 8;
    default:
      return 16;
  }
}

/** DuckDB types whose vector memory already has Arrow's layout for their kind. */
const SAME_LAYOUT = new Set<DuckDBTypeId>([
  DuckDBTypeId.TINYINT, DuckDBTypeId.SMALLINT, DuckDBTypeId.INTEGER, DuckDBTypeId.BIGINT,
  DuckDBTypeId.UTINYINT, DuckDBTypeId.USMALLINT, DuckDBTypeId.UINTEGER, DuckDBTypeId.UBIGINT,
  DuckDBTypeId.FLOAT, DuckDBTypeId.DOUBLE, DuckDBTypeId.DATE, DuckDBTypeId.TIMESTAMP, DuckDBTypeId.TIMESTAMP_TZ
]);

/** Normalises one DuckDB value for the Arrow builder of its kind (the slow path, for the rest). */
function normalise(value: unknown, kind: ArrowKind): ArrowValue {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'date':
      return (value as { days: number }).days;
    case 'timestamp':
    case 'timestamptz':
      return (value as { micros: bigint }).micros;
    case 'float64':
      return typeof value === 'object' ? (value as { toDouble(): number }).toDouble() : (value as number);
    case 'utf8':
      return typeof value === 'string' ? value : String(value);
    default:
      return value as ArrowValue;
  }
}

export class DuckDBEngine implements QueryEngine {
  readonly dialect = duckdbDialect;

  private constructor(private readonly instance: DuckDBInstance) {}

  static async create(): Promise<DuckDBEngine> {
    // Extensions cannot be downloaded here, and nothing should try.
    const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false' });
    // Timestamps with time zone render (and their year_only masks read) in UTC, whatever the
    // host's zone, as on PostgreSQL: masks give the same values on both engines.
    const connection = await instance.connect();
    try {
      await connection.run("SET GLOBAL TimeZone = 'UTC'");
    } finally {
      connection.closeSync();
    }
    return new DuckDBEngine(instance);
  }

  relation(source: Source, params: Params): string {
    switch (source.format) {
      case 'parquet':
        return `read_parquet(${params.add(source.path)})`;
      case 'csv':
        return `read_csv(${params.add(source.path)}, header = true, auto_detect = true)`;
      case 'jsonl':
        return `read_json(${params.add(source.path)}, format = 'newline_delimited')`;
      case 'audit': {
        const columns = AUDIT_COLUMNS.map(column => `${quoteIdent(column.name)}: '${column.type}'`).join(', ');
        return `read_json(${params.add(source.path)}, format = 'newline_delimited', columns = {${columns}})`;
      }
      case 'postgres':
        throw new SourceError(`DuckDB does not read ${source.format} sources`);
    }
  }

  async describe(source: Source): Promise<SourceColumn[]> {
    const params = new Params();
    const connection = await this.instance.connect();
    try {
      const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${this.relation(source, params)}`, params.values);
      return reader.getRowObjectsJS().map(row => ({ name: String(row.column_name), type: String(row.column_type) }));
    } catch (error) {
      throw new SourceError((error as Error).message);
    } finally {
      connection.closeSync();
    }
  }

  async stream(scan: CompiledScan, metadata: Map<string, string>): Promise<ArrowResult> {
    const connection = await this.instance.connect();
    let opened;
    try {
      opened = await openStream(connection, scan);
    } catch (error) {
      connection.closeSync();
      throw error;
    }
    const { result, probed, ended } = opened;
    const typeIds = result.columnTypes().map(type => type.typeId);
    const kinds = typeIds.map(typeId => KIND_BY_TYPE[typeId] ?? 'utf8');
    const schema = scanSchema(scan.columns, kinds, metadata);
    const state = { cancelled: false };
    return {
      schema,
      cancel: () => {
        state.cancelled = true;
        connection.interrupt();
      },
      batches: batchesOf(result, probed, ended, connection, schema, typeIds, kinds, state)
    };
  }

  async close(): Promise<void> {
    this.instance.closeSync();
  }
}

/** Bytes of `streaming_buffer_size` for a scan, from the rows per chunk of its first chunks. */
export function streamingBuffer(rows: number, chunks: number): number {
  const buffer = Math.floor((BUFFER_REAL_BYTES * rows) / (chunks * 2048));
  return Math.max(PROBE_BUFFER, Math.min(MAX_BUFFER, buffer));
}

/**
 * Starts a scan with the streaming buffer its density calls for (see PROBE_BUFFER): the
 * result, and the chunks already read from it (none after a restart).
 */
async function openStream(connection: DuckDBConnection, scan: CompiledScan): Promise<{ result: DuckDBResult; probed: DuckDBDataChunk[]; ended: boolean }> {
  await connection.run(`SET streaming_buffer_size = '${PROBE_BUFFER}B'`);
  const result = await connection.stream(scan.sql, scan.params);
  const probed: DuckDBDataChunk[] = [];
  let rows = 0;
  while (probed.length < PROBE_CHUNKS) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) return { result, probed, ended: true };
    probed.push(chunk);
    rows += chunk.rowCount;
  }
  const buffer = streamingBuffer(rows, probed.length);
  if (buffer < 2 * PROBE_BUFFER) return { result, probed, ended: false };
  // A new statement closes the first result; its chunks are dropped unsent.
  await connection.run(`SET streaming_buffer_size = '${buffer}B'`);
  return { result: await connection.stream(scan.sql, scan.params), probed: [], ended: false };
}

/**
 * The record batches of a streaming result. Fetching runs ahead of the consumer by up to
 * QUEUE_BYTES of finished batches: while a client reads slowly, DuckDB's chunks keep being
 * taken and compacted into Arrow (a chunk that a selective filter left with 10 rows still
 * holds 2,048 rows' worth of memory inside DuckDB), and only then does DuckDB wait, on its
 * own streaming buffer.
 */
async function* batchesOf(
  result: DuckDBResult,
  probed: DuckDBDataChunk[],
  ended: boolean,
  connection: DuckDBConnection,
  schema: Schema,
  typeIds: DuckDBTypeId[],
  kinds: ArrowKind[],
  state: { cancelled: boolean }
): AsyncGenerator<RecordBatch> {
  const queue: { batch: RecordBatch; bytes: number }[] = [];
  let queuedBytes = 0;
  let finished = false;
  let stopped = false;
  let failure: unknown;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  const wake = (which: 'consumer' | 'producer') => {
    const resolve = which === 'consumer' ? wakeConsumer : wakeProducer;
    if (which === 'consumer') wakeConsumer = undefined;
    else wakeProducer = undefined;
    resolve?.();
  };
  const enqueue = (builders: ColumnBuilder[]) => {
    const bytes = builders.reduce((sum, builder) => sum + builder.byteLength, 0);
    queue.push({ batch: recordBatch(schema, builders), bytes });
    queuedBytes += bytes;
    wake('consumer');
  };

  const producer = (async () => {
    // Start at one DuckDB chunk and grow: a 100-row preview must not reserve a whole batch.
    const builders = kinds.map(kind => new ColumnBuilder(kind, 2048));
    const chunkBytes = 2048 * typeIds.reduce((sum, typeId) => sum + vectorWidth(typeId), 0);
    let fetchedBytes = 0;
    try {
      for (;;) {
        while (queuedBytes >= QUEUE_BYTES && !stopped && !state.cancelled) {
          await new Promise<void>(resolve => (wakeProducer = resolve));
        }
        if (stopped || state.cancelled) return;
        const chunk = probed.length ? probed.shift() : ended ? null : await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        fetchedBytes += chunkBytes + appendChunk(builders, typeIds, chunk);
        // Done with it: string heaps and buffers it pins go now, the rest at the next collection.
        bindings.data_chunk_reset(chunk.chunk);
        if (fetchedBytes >= CHUNK_GC_BYTES) {
          fetchedBytes = 0;
          collectYoung();
        }
        if (builders[0].length >= BATCH_ROWS) enqueue(builders);
      }
      if (!state.cancelled && builders[0].length > 0) enqueue(builders);
    } catch (error) {
      failure = error;
    } finally {
      finished = true;
      wake('consumer');
    }
  })();

  try {
    for (;;) {
      const next = queue.shift();
      if (next) {
        queuedBytes -= next.bytes;
        wake('producer');
        yield next.batch;
      } else if (failure !== undefined) {
        throw failure;
      } else if (finished) {
        return;
      } else {
        await new Promise<void>(resolve => (wakeConsumer = resolve));
      }
    }
  } finally {
    stopped = true;
    if (!finished) connection.interrupt();
    wake('producer');
    await producer;
    connection.closeSync();
  }
}

/**
 * Copies one DuckDB chunk into the column builders, from DuckDB's vector memory where layouts
 * match. Returns the bytes of string data it held.
 */
function appendChunk(builders: ColumnBuilder[], typeIds: DuckDBTypeId[], chunk: DuckDBDataChunk): number {
  const rows = chunk.rowCount;
  let stringBytes = 0;
  for (let c = 0; c < builders.length; c++) {
    const builder = builders[c];
    const vector = bindings.data_chunk_get_vector(chunk.chunk, c);
    const validity = bindings.vector_get_validity(vector, ((rows + 63) >> 6) * 8) ?? null;
    if (SAME_LAYOUT.has(typeIds[c])) {
      builder.appendFixed(bindings.vector_get_data(vector, rows * builder.width), rows, validity);
    } else if (typeIds[c] === DuckDBTypeId.VARCHAR) {
      stringBytes += appendStrings(builder, bindings.vector_get_data(vector, rows * 16), rows, validity);
    } else {
      const values = chunk.getColumnVector(c);
      for (let r = 0; r < rows; r++) builder.append(normalise(values.getItem(r), builder.kind));
    }
  }
  return stringBytes;
}

/**
 * Gaps up to this many bytes between the strings of one vector are read along with them, so
 * that one native call fetches many strings. Safe because it is below the smallest page size
 * (4 KiB): a gap shorter than a page between two mapped bytes lies in the pages of those
 * bytes, so every byte of a merged range is mapped.
 */
const STRING_GAP = 1024;
const TWO_32 = 4294967296;

/** Scratch space for appendStrings, grown as needed: ranges of the out-of-line strings of a vector. */
let rangeStarts = new Float64Array(2048);
let rangeEnds = new Float64Array(2048);
let runStarts = new Float64Array(64);
let runEnds = new Float64Array(64);
/** The address of a run, for get_data_from_pointer, which reads its pointer from a buffer. */
const runPointer = new Uint32Array(2);

/**
 * DuckDB strings are 16-byte `duckdb_string_t`s: a length, then up to 12 bytes inline or a
 * prefix and a pointer. Their UTF-8 bytes go to Arrow as they are: no decoding, no encoding.
 *
 * Strings past 12 bytes live elsewhere (a string heap, a Parquet page or dictionary), usually
 * close together: their address ranges are merged into a few runs, each read with one native
 * call, instead of one call (and one allocation) per string.
 */
function appendStrings(builder: ColumnBuilder, data: Uint8Array, rows: number, validity: Uint8Array | null): number {
  if (data.byteOffset & 3) data = data.slice(0, rows * 16);
  const words = new Uint32Array(data.buffer, data.byteOffset, rows * 4);

  // 1. Lengths, total bytes, and the address ranges of out-of-line strings.
  if (rangeStarts.length < rows) {
    rangeStarts = new Float64Array(rows);
    rangeEnds = new Float64Array(rows);
  }
  let bytes = 0;
  let outOfLine = 0;
  let sorted = true;
  let previous = 0;
  for (let r = 0; r < rows; r++) {
    if (validity !== null && (validity[r >> 3] & (1 << (r & 7))) === 0) continue;
    const length = words[r << 2];
    bytes += length;
    if (length > 12) {
      const address = words[(r << 2) + 2] + words[(r << 2) + 3] * TWO_32;
      if (address < previous) sorted = false;
      previous = address;
      rangeStarts[outOfLine] = address;
      rangeEnds[outOfLine++] = address + length;
    }
  }

  // 2. Merge the ranges into runs. Sorting starts and ends separately keeps the union of the
  // ranges (a point is covered as often as before), which is all that merging needs.
  let runs = 0;
  if (outOfLine > 0) {
    if (!sorted) {
      rangeStarts.subarray(0, outOfLine).sort();
      rangeEnds.subarray(0, outOfLine).sort();
    }
    let start = rangeStarts[0];
    let end = rangeEnds[0];
    for (let i = 1; i < outOfLine; i++) {
      if (rangeStarts[i] <= end + STRING_GAP) {
        if (rangeEnds[i] > end) end = rangeEnds[i];
      } else {
        runs = addRun(runs, start, end);
        start = rangeStarts[i];
        end = rangeEnds[i];
      }
    }
    runs = addRun(runs, start, end);
  }
  const runData: Uint8Array[] = new Array(runs);
  for (let k = 0; k < runs; k++) {
    runPointer[0] = runStarts[k] % TWO_32;
    runPointer[1] = Math.floor(runStarts[k] / TWO_32);
    runData[k] = bindings.get_data_from_pointer(runPointer.buffer as ArrayBuffer, 0, runEnds[k] - runStarts[k]);
  }

  // 3. Copy the bytes, row by row, from the vector (inline) or from the run holding them.
  builder.reserveUtf8(rows, bytes);
  const out = builder.utf8Data;
  const offsets = builder.utf8Offsets;
  const firstRow = builder.length;
  let at = builder.utf8Length;
  let k = 0;
  for (let r = 0; r < rows; r++) {
    if (validity === null || (validity[r >> 3] & (1 << (r & 7))) !== 0) {
      const length = words[r << 2];
      if (length <= 12) {
        const from = (r << 4) + 4;
        for (let i = 0; i < length; i++) out[at + i] = data[from + i];
      } else {
        const address = words[(r << 2) + 2] + words[(r << 2) + 3] * TWO_32;
        if (address < runStarts[k] || address >= runEnds[k]) k = findRun(runs, address);
        const source = runData[k];
        const from = address - runStarts[k];
        if (length <= 64) {
          for (let i = 0; i < length; i++) out[at + i] = source[from + i];
        } else {
          out.set(source.subarray(from, from + length), at);
        }
      }
      at += length;
    }
    offsets[firstRow + r + 1] = at;
  }
  builder.commitUtf8(rows, at, validity);
  return bytes;
}

function addRun(runs: number, start: number, end: number): number {
  if (runs === runStarts.length) {
    const starts = new Float64Array(runs * 2);
    const ends = new Float64Array(runs * 2);
    starts.set(runStarts);
    ends.set(runEnds);
    runStarts = starts;
    runEnds = ends;
  }
  runStarts[runs] = start;
  runEnds[runs] = end;
  return runs + 1;
}

/** The run holding `address` (runs are sorted and disjoint). */
function findRun(runs: number, address: number): number {
  let low = 0;
  let high = runs - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (runStarts[middle] <= address) low = middle;
    else high = middle - 1;
  }
  return low;
}
