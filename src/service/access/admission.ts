/**
 * Admission: what a read may take of the service before it runs, and for how long.
 *
 * - Heavy queries (sorts, aggregates, joins, windows: whatever the engine's own plan holds in
 *   memory in proportion to the data, engine/*\/plan.ts) run at most `heavyQueries` at once
 *   per engine, so that each has its share of the engine's memory limit and spills past it.
 * - Every stream reserves what it may hold ahead of a client that does not read (the
 *   engine's read-ahead, one batch in the transport): all streams together stay within
 *   `streamBuffers`, one user's within `streamBuffersPerUser`.
 * A read that does not fit waits, first come first served, in a queue of at most
 * `queueLength` for at most `queueWaitMs`; otherwise it is refused with `overloaded` (503 and
 * Retry-After), audited as `refused` with the reason.
 * - A client that takes no data for `stallTimeoutMs` has its stream cut, audited as
 *   `aborted` with the reason, and what it held goes back to the others (and, once the
 *   garbage is collected, to the machine: ./memory.ts).
 */
import { Principal } from '../../common/api';
import { ResourceSettings } from '../config/resources';
import { CompiledScan } from '../engine/compile';
import { ArrowResult, QueryEngine } from '../engine/engine';
import { AccessError } from './errors';
import { LARGE_STREAM_BYTES, MemoryReturn } from './memory';
import { ResultSink } from './sink';
import { AuditDetails, AuditTrail } from './trail';

const MIB = 1024 * 1024;

/**
 * A read refused for lack of room: the caller may try again after `retryAfterSeconds`. The
 * message says why in words; the engine's heavy operators are for the service log only.
 */
export class OverloadedError extends AccessError {
  heavyOperators: string[] = [];

  constructor(
    message: string,
    readonly retryAfterSeconds: number
  ) {
    super('overloaded', message);
  }
}

/** A client that took nothing for too long: its stream is cut. */
export class StalledClientError extends Error {}

interface Claim {
  engine: QueryEngine;
  heavy: boolean;
  bytes: number;
  user: string;
}

interface Waiting {
  claim: Claim;
  grant: () => void;
}

export class Admission {
  private readonly heavyRunning = new Map<QueryEngine, number>();
  private readonly userBytes = new Map<string, number>();
  private streamBytes = 0;
  private readonly queue: Waiting[] = [];
  private readonly memory = new MemoryReturn();

  constructor(private readonly settings: () => ResourceSettings) {}

  /** Bytes every stream holds now (for tests and health). */
  get heldBytes(): number {
    return this.streamBytes;
  }

  /** Reads waiting for room now (for tests and health). */
  get waitingReads(): number {
    return this.queue.length;
  }

  /**
   * Runs a compiled scan once there is room for it: plans it (engine errors pass through, for
   * the caller to report), waits for room or refuses it (audited here), starts it. Room is
   * given back when its batches end, however they end.
   */
  async stream(
    trail: AuditTrail,
    details: AuditDetails,
    principal: Principal,
    engine: QueryEngine,
    scan: CompiledScan,
    metadata: Map<string, string>,
    closed: AbortSignal
  ): Promise<ArrowResult> {
    const cost = await engine.cost(scan);
    const heavy = cost.heavyOperators.length > 0;
    const claim: Claim = { engine, heavy, bytes: cost.readAheadBytes, user: principal.user };
    try {
      await this.acquire(claim, closed);
    } catch (error) {
      if (error instanceof OverloadedError) {
        error.heavyOperators = cost.heavyOperators;
        // The plan's operators go to compliance (and the service log), never to the caller.
        await trail.access('refused', { ...details, reason: error.message, actual_reason: heavy ? `heavy in the engine's plan: ${cost.heavyOperators.join(', ')}` : null });
      }
      throw error;
    }
    let result: ArrowResult;
    try {
      result = await engine.stream(scan, metadata);
    } catch (error) {
      this.release(claim);
      throw error;
    }
    return { ...result, batches: this.releasing(result.batches, claim) };
  }

  /**
   * The sink, watched for a client that stopped reading: when data has waited for it in the
   * transport and none was taken for the stall timeout, the stream is cut (the pending write or
   * end rejects with StalledClientError) and the transport lets go of what it held.
   */
  watch(sink: ResultSink): ResultSink {
    const timeout = this.settings().stallTimeoutMs;
    let lastTaken = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let cut = false;
    let stall!: (error: StalledClientError) => void;
    const stalled = new Promise<never>((_, reject) => (stall = reject));
    // Raced by every write and the end; a stream that never stalls never rejects it.
    stalled.catch(() => undefined);
    const stop = () => {
      clearTimeout(timer);
      if (!cut) sink.cut();
      cut = true;
    };
    const check = () => {
      // Nothing waits for the client (the engine is slow to give the next batch): not a stall.
      if (sink.pendingBytes() === 0) lastTaken = performance.now();
      const idle = performance.now() - lastTaken;
      if (idle < timeout) {
        timer = setTimeout(check, timeout - idle);
        return;
      }
      stall(new StalledClientError(`the client took no data for ${timeout / 1000} s: stream cut`));
      stop();
    };
    const timed = <T>(work: Promise<T>) => Promise.race([work, stalled]);
    return {
      closed: sink.closed,
      pendingBytes: () => sink.pendingBytes(),
      open: (schema, delivery) => {
        sink.open(schema, {
          delivered: (bytes, rows) => {
            lastTaken = performance.now();
            delivery.delivered(bytes, rows);
          }
        });
        lastTaken = performance.now();
        timer = setTimeout(check, timeout);
      },
      write: batch => timed(sink.write(batch)),
      end: () => timed(sink.end()).finally(() => clearTimeout(timer)),
      cut: stop
    };
  }

  private async *releasing<T>(batches: AsyncIterable<T>, claim: Claim): AsyncGenerator<T> {
    try {
      yield* batches;
    } finally {
      this.release(claim);
    }
  }

  private fits(claim: Claim, settings: ResourceSettings): boolean {
    if (claim.heavy && (this.heavyRunning.get(claim.engine) ?? 0) >= settings.heavyQueries) return false;
    const user = this.userBytes.get(claim.user) ?? 0;
    // One stream always fits when nothing is held: a limit below one stream must not refuse all.
    if (user > 0 && user + claim.bytes > settings.streamBuffersPerUser) return false;
    return this.streamBytes === 0 || this.streamBytes + claim.bytes <= settings.streamBuffers;
  }

  private take(claim: Claim): void {
    if (claim.heavy) this.heavyRunning.set(claim.engine, (this.heavyRunning.get(claim.engine) ?? 0) + 1);
    this.userBytes.set(claim.user, (this.userBytes.get(claim.user) ?? 0) + claim.bytes);
    this.streamBytes += claim.bytes;
  }

  private release(claim: Claim): void {
    if (claim.heavy) this.heavyRunning.set(claim.engine, this.heavyRunning.get(claim.engine)! - 1);
    const user = this.userBytes.get(claim.user)! - claim.bytes;
    if (user > 0) this.userBytes.set(claim.user, user);
    else this.userBytes.delete(claim.user);
    this.streamBytes -= claim.bytes;
    if (claim.bytes >= LARGE_STREAM_BYTES) this.memory.streamEnded();
    this.admitWaiting();
  }

  /** Grants the waiting claims that fit now, oldest first (a claim that does not fit does not hold back one that does). */
  private admitWaiting(): void {
    const settings = this.settings();
    for (let i = 0; i < this.queue.length; ) {
      const waiting = this.queue[i];
      if (this.fits(waiting.claim, settings)) {
        this.queue.splice(i, 1);
        this.take(waiting.claim);
        waiting.grant();
      } else {
        i++;
      }
    }
  }

  private acquire(claim: Claim, closed: AbortSignal): Promise<void> {
    const settings = this.settings();
    const retryAfterSeconds = Math.max(1, Math.ceil(settings.queueWaitMs / 1000));
    const why = () =>
      claim.heavy && (this.heavyRunning.get(claim.engine) ?? 0) >= settings.heavyQueries
        ? `${settings.heavyQueries === 1 ? 'a large sort/aggregate is' : `${settings.heavyQueries} large sorts/aggregates are`} running`
        : `streams hold ${Math.round(this.streamBytes / MIB)} of ${Math.round(settings.streamBuffers / MIB)} MiB (yours ${Math.round((this.userBytes.get(claim.user) ?? 0) / MIB)} of ${Math.round(settings.streamBuffersPerUser / MIB)} MiB)`;
    if (closed.aborted) return Promise.reject(new OverloadedError('the client went away before its read started', retryAfterSeconds));
    // Every waiting read that fits is granted as soon as room comes back (admitWaiting), so none
    // that could run is waiting now: one that fits takes no one's turn. One user's reads waiting
    // on their own share must not hold back other users'.
    if (this.fits(claim, settings)) {
      this.take(claim);
      return Promise.resolve();
    }
    if (this.queue.length >= settings.queueLength) {
      return Promise.reject(new OverloadedError(`the service is busy: ${why()} and ${this.queue.length} reads are waiting; retry in ${retryAfterSeconds} s`, retryAfterSeconds));
    }
    return new Promise((resolve, reject) => {
      const waiting: Waiting = {
        claim,
        grant: () => {
          clearTimeout(timer);
          closed.removeEventListener('abort', gone);
          resolve();
        }
      };
      const leave = (error: Error) => {
        this.queue.splice(this.queue.indexOf(waiting), 1);
        closed.removeEventListener('abort', gone);
        reject(error);
      };
      const timer = setTimeout(
        () => leave(new OverloadedError(`the service is busy: ${why()}; waited ${settings.queueWaitMs / 1000} s, retry in ${retryAfterSeconds} s`, retryAfterSeconds)),
        settings.queueWaitMs
      );
      const gone = () => {
        clearTimeout(timer);
        leave(new OverloadedError('the client went away while its read waited for room', retryAfterSeconds));
      };
      closed.addEventListener('abort', gone, { once: true });
      this.queue.push(waiting);
    });
  }
}
