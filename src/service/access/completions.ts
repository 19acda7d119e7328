/**
 * `complete` records that could not be written when their stream ended (the audit sink was
 * down: a full disk, PostgreSQL gone). What was released cannot be taken back, and its
 * `access` record is already durable, so the end must not be lost: these records are kept,
 * in order, and written as soon as the sink takes records again (retried with backoff). They
 * are bounded: past MAX_PENDING the oldest goes to the service log, whole, as one JSON line
 * (`audit_record_unwritten`, never held back by the log's rate limit), as does whatever is
 * still pending when the service stops.
 *
 * Streams whose end no record could say (the service was killed) are found at the next start
 * where the sink can tell (the file sink: access records of streams without a complete one)
 * and get a complete record with outcome `unknown` (`recordUnknownEnds`).
 */
import { AuditSink } from '../audit/log';
import { AuditRecord, StoredRecord } from '../audit/record';
import { EventLog } from './log';

/** More than the streams a service has in flight when its sink fails: past it, the oldest is logged instead. */
export const MAX_PENDING = 10_000;
const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 30_000;

export class PendingCompletions {
  private readonly queue: AuditRecord[] = [];
  private timer?: NodeJS.Timeout;
  private retryMs = FIRST_RETRY_MS;
  private writing?: Promise<void>;

  constructor(
    private readonly sink: AuditSink,
    private readonly events: EventLog
  ) {}

  /** Complete records waiting for the sink. */
  get size(): number {
    return this.queue.length;
  }

  /** Writes `record` now, or keeps it for later if the sink fails (never throws). */
  async write(record: AuditRecord): Promise<void> {
    let failure = 'earlier complete records are waiting for the audit sink';
    // Behind records already waiting: a stream's end is never recorded before an earlier one's.
    if (this.queue.length === 0 && !this.writing) {
      try {
        await this.sink.write(record);
        return;
      } catch (error) {
        failure = (error as Error).message;
      }
    }
    this.keep(record);
    this.events.error('audit_complete_pending', { request_id: record.request_id, pending: this.queue.length, error: failure });
  }

  /** One attempt to write everything pending, in order; resolves with how many are left. */
  async flush(): Promise<number> {
    this.writing ??= this.drain().finally(() => (this.writing = undefined));
    await this.writing;
    return this.queue.length;
  }

  /** Stops retrying; what is still pending goes to the service log. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const record of this.queue.splice(0)) this.events.keep('audit_record_unwritten', { record });
  }

  private keep(record: AuditRecord): void {
    if (this.queue.length >= MAX_PENDING) this.events.keep('audit_record_unwritten', { record: this.queue.shift() });
    this.queue.push(record);
    this.timer ??= setTimeout(() => void this.retry(), this.retryMs);
  }

  private async retry(): Promise<void> {
    this.timer = undefined;
    const left = await this.flush();
    this.retryMs = left ? Math.min(this.retryMs * 2, LAST_RETRY_MS) : FIRST_RETRY_MS;
    if (left && !this.timer) this.timer = setTimeout(() => void this.retry(), this.retryMs);
  }

  /** Writes what is pending, all at once (the sink commits them together, in order); keeps what fails. */
  private async drain(): Promise<void> {
    const batch = this.queue.splice(0);
    const results = await Promise.allSettled(batch.map(record => this.sink.write(record)));
    const failed = batch.filter((_, i) => results[i].status === 'rejected');
    // Anything kept meanwhile came after these.
    this.queue.unshift(...failed);
    const written = batch.length - failed.length;
    if (written) this.events.info('audit_complete_written', { written, pending: this.queue.length });
  }
}

/**
 * The streams of an earlier run whose end no record says (the sink lists them: `access`
 * records of previews and scans without a `complete`): each gets one now, outcome `unknown`,
 * with what is known. Returns how many.
 */
export async function recordUnknownEnds(sink: AuditSink, unfinished: readonly StoredRecord[], now = new Date()): Promise<number> {
  for (const stored of unfinished) {
    const { raw_values: raw, ...fields } = stored;
    // The exact text of fields stored with U+FFFD, so that the new record carries it too.
    const access = { ...fields, ...(raw ? (JSON.parse(raw) as Partial<AuditRecord>) : {}) } as AuditRecord;
    const reason =
      'the service stopped before the end of this stream was recorded (a crash or a kill; or the audit log could not be written until it stopped: ' +
      'then its service log has the end, as audit_record_unwritten): anything up to the whole answer may have been released';
    await sink.write({
      ...access,
      time: now.toISOString(),
      event: 'complete',
      outcome: 'unknown',
      reason,
      rows: null,
      bytes: null,
      actual_outcome: 'unknown',
      actual_reason: reason
    });
  }
  return unfinished.length;
}
