/**
 * The service log: one JSON object per line (`{"time", "level", "event", ...}`), so that
 * machines can follow refusals, reloads, audit and engine failures. Every refusal (4xx, 5xx)
 * and every reload outcome has a line.
 *
 * Rate-limited per kind (the event and its `code`): a token bucket of BURST lines refilled at
 * RATE_PER_SECOND, so a flood of one kind (a scanner's 404s, 503s while the audit disk is full)
 * cannot drown the others or fill the disk. What a kind holds back is counted and said in its
 * next line (`suppressed`), or in a `log_suppressed` line a second later if none comes first.
 */

/** Where the lines go: main.ts prints them, tests keep them. */
export interface Logger {
  info(line: string): void;
  error(line: string): void;
}

export type Level = 'info' | 'error';

const BURST = 20;
const RATE_PER_SECOND = 5;
const QUIET_MS = 1000;

interface Bucket {
  tokens: number;
  refilled: number;
  suppressed: number;
  quiet?: NodeJS.Timeout;
}

export class EventLog {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now
  ) {}

  info(event: string, fields: Record<string, unknown> = {}): void {
    this.write('info', event, fields);
  }

  error(event: string, fields: Record<string, unknown> = {}): void {
    this.write('error', event, fields);
  }

  /** A line never held back by the rate limit: it carries what exists nowhere else (an audit record that could not be written). */
  keep(event: string, fields: Record<string, unknown>): void {
    this.print('error', { event, ...fields });
  }

  private write(level: Level, event: string, fields: Record<string, unknown>): void {
    const kind = typeof fields.code === 'string' ? `${event}:${fields.code}` : event;
    const bucket = this.bucket(kind);
    if (bucket.tokens < 1) {
      bucket.suppressed++;
      // Said a second later, unless a line of this kind comes first and says it.
      bucket.quiet ??= setTimeout(() => this.sayQuiet(level, kind, bucket), QUIET_MS).unref();
      return;
    }
    bucket.tokens--;
    const suppressed = bucket.suppressed ? { suppressed: bucket.suppressed } : {};
    bucket.suppressed = 0;
    this.print(level, { event, ...fields, ...suppressed });
  }

  private bucket(kind: string): Bucket {
    const now = this.now();
    let bucket = this.buckets.get(kind);
    if (!bucket) {
      bucket = { tokens: BURST, refilled: now, suppressed: 0 };
      this.buckets.set(kind, bucket);
    }
    bucket.tokens = Math.min(BURST, bucket.tokens + ((now - bucket.refilled) / 1000) * RATE_PER_SECOND);
    bucket.refilled = now;
    return bucket;
  }

  private sayQuiet(level: Level, kind: string, bucket: Bucket): void {
    bucket.quiet = undefined;
    if (!bucket.suppressed) return;
    this.print(level, { event: 'log_suppressed', kind, suppressed: bucket.suppressed, over_ms: QUIET_MS });
    bucket.suppressed = 0;
  }

  private print(level: Level, fields: Record<string, unknown>): void {
    const line = JSON.stringify({ time: new Date(this.now()).toISOString(), level, ...fields });
    this.logger[level](line);
  }
}
