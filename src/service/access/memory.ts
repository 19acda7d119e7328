/**
 * Giving memory back once large reads end. Record batches are ArrayBuffers, freed only when V8
 * collects them; while a client stalls they age into the old generation, and an idle service
 * allocates nothing, so V8 never runs the full collection that would free them: 40 stalled
 * readers left over 1.6 GB behind them, and a cut stream's batches were still there while the
 * room it gave back was taken by the next read. So when a large stream ends, a full collection
 * runs shortly after, in two passes (streams that end together share them).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Streams that may hold this many bytes or more are large: their end is worth a collection. */
export const LARGE_STREAM_BYTES = 16 * 1024 * 1024;
/**
 * When the passes run, after the end of a stream: the first once the read's last references
 * are gone; a second follows, because what dead objects hold natively (DuckDB's results and
 * chunks) is freed by finalizers that run after the collection that found them, and what those
 * held is found by the next one (after one pass, 40-50 MB of such memory was still counted).
 */
const PASSES_MS = [50, 500];
/** At least this long from one collection to the next. */
const MIN_INTERVAL_MS = 1000;

/** V8's full collection, without --expose-gc on the command line (a no-op if V8 refuses). */
const collectFull: () => void = (() => {
  try {
    let gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
      setFlagsFromString('--no-expose-gc');
    }
    return gc;
  } catch {
    return () => undefined;
  }
})();

export class MemoryReturn {
  private pending?: NodeJS.Timeout;
  /** A large stream ended since the last collection started. */
  private ended = false;

  /** A large stream ended: its batches are garbage, collect them soon. */
  streamEnded(): void {
    this.ended = true;
    if (!this.pending) this.collect(0);
  }

  /** Runs the collection's passes from `pass` on; then, if streams ended meanwhile, another collection. */
  private collect(pass: number): void {
    if (pass === 0) this.ended = false;
    const wait = pass === 0 ? PASSES_MS[0] : PASSES_MS[pass] - PASSES_MS[pass - 1];
    this.after(wait, () => {
      collectFull();
      if (pass + 1 < PASSES_MS.length) this.collect(pass + 1);
      else if (this.ended) this.after(MIN_INTERVAL_MS, () => this.collect(0));
      else this.pending = undefined;
    });
  }

  private after(ms: number, run: () => void): void {
    this.pending = setTimeout(run, ms);
    // Nothing to give back once the service is stopping.
    this.pending.unref();
  }
}
