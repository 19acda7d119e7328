/**
 * The audit records of one call. An `access` record is durable before anything is released
 * (fail closed: if it cannot be written the call fails); a data stream ends with a
 * `complete` record of the rows and bytes it delivered.
 */
import { Principal } from '../../common/api';
import { AuditSink, AuditUnavailableError } from '../audit/log';
import { AuditAction, AuditEvent, AuditOutcome, AuditRecord } from '../audit/record';
import { Call } from './call';
import { PendingCompletions } from './completions';
import { auditUnavailable } from './errors';

/**
 * What a record says besides who and what. `outcome` and `reason` are what the caller was told;
 * `actual_outcome` and `actual_reason` default to them, and say the truth where it differs
 * (compliance-only: a hidden dataset told as not found, an engine's own words).
 */
export type AuditDetails = Partial<
  Pick<AuditRecord, 'columns' | 'policies' | 'row_filter' | 'caller_filter' | 'reason' | 'rows' | 'bytes' | 'actual_outcome' | 'actual_reason'>
>;

/**
 * Whom a record names: the authenticated principal, or for a refused credential the owner its
 * issuer named (without groups: the caller was not authenticated).
 */
export type AuditedCaller = Principal | { user: string; groups?: undefined };

export class AuditTrail {
  constructor(
    private readonly sink: AuditSink,
    private readonly completions: PendingCompletions,
    private readonly call: Call,
    readonly action: AuditAction,
    readonly dataset: string | null,
    private readonly caller?: AuditedCaller
  ) {}

  get requestId(): string {
    return this.call.requestId;
  }

  /** Resolves once the record is durable; otherwise fails the call with `audit_unavailable`. */
  async access(outcome: AuditOutcome, details: AuditDetails = {}): Promise<void> {
    try {
      await this.sink.write(this.record('access', outcome, details));
    } catch (error) {
      if (error instanceof AuditUnavailableError) throw auditUnavailable();
      throw error;
    }
  }

  /**
   * After a data stream: what it delivered. What was sent cannot be taken back: a record the
   * sink cannot take now is kept and written when it can (./completions.ts); this never fails.
   */
  async complete(outcome: AuditOutcome, details: AuditDetails): Promise<void> {
    await this.completions.write(this.record('complete', outcome, details));
  }

  private record(event: AuditEvent, outcome: AuditOutcome, details: AuditDetails): AuditRecord {
    const told = {
      time: new Date().toISOString(),
      request_id: this.call.requestId,
      event,
      user_name: this.caller?.user ?? null,
      groups: this.caller?.groups ? this.caller.groups.join(', ') : null,
      client: this.call.client,
      notebook: this.call.notebook,
      action: this.action,
      dataset: this.dataset,
      columns: null,
      policies: null,
      row_filter: null,
      caller_filter: null,
      outcome,
      reason: null,
      rows: null,
      bytes: null,
      ...details
    };
    return { ...told, actual_outcome: details.actual_outcome ?? outcome, actual_reason: details.actual_reason ?? told.reason };
  }
}
