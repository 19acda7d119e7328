/** Collecting dead DuckDB chunks and native Arrow batches, whose memory V8 does not weigh. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A fetched DuckDB chunk (about 2,048 rows' worth of vectors, whatever its row count) is freed
 * only when V8 collects its JavaScript handle, and V8 does not know about that native memory:
 * a fast scan that allocates little in JavaScript (a selective filter) piled up over 100 MB of
 * dead chunks between collections. So after every CHUNK_GC_BYTES of fetched chunks, a
 * young-generation collection (a scavenge, well under a millisecond here) frees them. The
 * native path's batches (native.ts) are collected the same way.
 */
export const CHUNK_GC_BYTES = 16 * 1024 * 1024;
export const collectYoung: () => void = (() => {
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
