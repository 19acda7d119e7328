/** Arrow record batches from a streaming DuckDB result, fetched ahead of the consumer by a bounded amount. */
import { DuckDBConnection, DuckDBDataChunk, DuckDBResult, DuckDBTypeId } from '@duckdb/node-api';
import bindings from '@duckdb/node-bindings';
import type { RecordBatch, Schema } from 'apache-arrow';
import { ArrowKind, ColumnBuilder, recordBatch } from '../arrow';
import { appendChunk, vectorWidth } from './chunks';
import { CHUNK_GC_BYTES, collectYoung } from './gc';
import { NativeBatches } from './native';
import { nextChunk } from './open-stream';

/**
 * Rows per Arrow record batch on the JavaScript path (DuckDB hands out chunks of at most 2,048
 * rows). Past about 16,000 rows, larger batches did not stream faster; each batch in flight
 * costs memory.
 */
const BATCH_ROWS = 32_768;

/**
 * A batch on the native path ends past this many bytes of Arrow buffers (or rows, for very
 * narrow results). Each batch in flight is memory, and larger ones did not stream faster
 * (docs/benchmarks.md, Memory).
 */
const NATIVE_BATCH_BYTES = 4 * 1024 * 1024;
const NATIVE_BATCH_ROWS = 1 << 20;

/** Finished batches the fetching may run ahead of a slow consumer by (see batchesOf). */
const QUEUE_BYTES = 8 * 1024 * 1024;

/** The next record batch and its bytes, null after the last. */
type BatchSource = () => Promise<{ batch: RecordBatch; bytes: number } | null>;

/**
 * The record batches of a streaming result. Fetching runs ahead of the consumer by up to
 * QUEUE_BYTES of finished batches: while a client reads slowly, DuckDB's chunks keep being
 * taken and compacted into Arrow (a chunk that a selective filter left with 10 rows still
 * holds 2,048 rows' worth of memory inside DuckDB), and only then does DuckDB wait, on its
 * own streaming buffer.
 */
export async function* batchesOf(
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

  const producer = (async () => {
    try {
      const native = NativeBatches.open(result, probed, ended, schema, kinds);
      const next: BatchSource = native ? nativeBatches(native) : javaScriptBatches(result, probed, ended, schema, typeIds, kinds);
      for (;;) {
        while (queuedBytes >= QUEUE_BYTES && !stopped && !state.cancelled) {
          await new Promise<void>(resolve => (wakeProducer = resolve));
        }
        if (stopped || state.cancelled) return;
        const batch = await next();
        if (!batch || stopped || state.cancelled) return;
        queue.push(batch);
        queuedBytes += batch.bytes;
        wake('consumer');
      }
    } catch (error) {
      // Interrupted on purpose: not a failure.
      if (!stopped && !state.cancelled) failure = error;
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
    // The batches nobody will read go with the generator's caller, not with the generator.
    queue.length = 0;
    queuedBytes = 0;
    if (!finished) connection.interrupt();
    wake('producer');
    await producer;
    connection.closeSync();
  }
}

/**
 * Batches built by the addon (native.ts). Their buffers are freed when V8 collects them, so
 * a scavenge every CHUNK_GC_BYTES of batches frees the sent ones while they are still in the
 * young generation (the few in flight survive it; they would be promoted after a second one).
 */
function nativeBatches(native: NativeBatches): BatchSource {
  let produced = 0;
  return async () => {
    const batch = await native.next(NATIVE_BATCH_ROWS, NATIVE_BATCH_BYTES);
    produced += batch?.bytes ?? 0;
    if (produced >= CHUNK_GC_BYTES) {
      produced = 0;
      collectYoung();
    }
    return batch;
  };
}

/** Batches copied from DuckDB's chunks in JavaScript (chunks.ts), for results the addon does not take. */
function javaScriptBatches(result: DuckDBResult, probed: DuckDBDataChunk[], ended: boolean, schema: Schema, typeIds: DuckDBTypeId[], kinds: ArrowKind[]): BatchSource {
  // Start at one DuckDB chunk and grow: a 100-row preview must not reserve a whole batch.
  const builders = kinds.map(kind => new ColumnBuilder(kind, 2048));
  const chunkBytes = 2048 * typeIds.reduce((sum, typeId) => sum + vectorWidth(typeId), 0);
  let fetchedBytes = 0;
  let done = false;
  const take = () => {
    const bytes = builders.reduce((sum, builder) => sum + builder.byteLength, 0);
    return { batch: recordBatch(schema, builders), bytes };
  };
  return async () => {
    while (!done) {
      const chunk = probed.length ? probed.shift() : ended ? null : await nextChunk(result);
      if (!chunk) {
        done = true;
        break;
      }
      fetchedBytes += chunkBytes + appendChunk(builders, typeIds, chunk);
      // Done with it: string heaps and buffers it pins go now, the rest at the next collection.
      bindings.data_chunk_reset(chunk.chunk);
      if (fetchedBytes >= CHUNK_GC_BYTES) {
        fetchedBytes = 0;
        collectYoung();
      }
      if (builders[0].length >= BATCH_ROWS) return take();
    }
    return builders[0].length > 0 ? take() : null;
  };
}
