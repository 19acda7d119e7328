/**
 * `GET /health`: whether the audit log can be written and the engines can run queries now
 * (common/api.ts, Health). Anyone may ask, so a check runs at most once per CHECK_INTERVAL_MS
 * however often it is asked, each probe is bounded by PROBE_TIMEOUT_MS, and the answer says
 * only ok or not; why goes to the service log, one line whenever a part changes state.
 */
import { Health, HealthStatus } from '../common/api';
import { EventLog } from './access/log';
import { AuditSink } from './audit/log';
import { errorText } from './engine/engine';
import { EngineRegistry } from './engine/registry';

const CHECK_INTERVAL_MS = 1000;
const PROBE_TIMEOUT_MS = 5000;

/** Resolves with null if `probe` succeeds within PROBE_TIMEOUT_MS, else with why not. */
async function failure(probe: () => Promise<void>): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>(resolve => (timer = setTimeout(() => resolve(`no answer within ${PROBE_TIMEOUT_MS} ms`), PROBE_TIMEOUT_MS)));
  try {
    return await Promise.race([probe().then(() => null, errorText), late]);
  } finally {
    clearTimeout(timer);
  }
}

export class HealthCheck {
  private last?: { at: number; health: Promise<Health> };
  /** The parts (`audit`, `engine <name>`) that failed at the last check, and why. */
  private failing = new Map<string, string>();

  constructor(
    private readonly version: string,
    private readonly audit: AuditSink,
    private readonly engines: () => EngineRegistry,
    private readonly events: EventLog,
    private readonly now: () => number = Date.now
  ) {}

  /** The current state, from a check at most CHECK_INTERVAL_MS old (concurrent askers share one). */
  check(): Promise<Health> {
    if (!this.last || this.now() - this.last.at >= CHECK_INTERVAL_MS) {
      this.last = { at: this.now(), health: this.run() };
    }
    return this.last.health;
  }

  private async run(): Promise<Health> {
    const engines = this.engines().all();
    const [audit, ...engineFailures] = await Promise.all([failure(() => this.audit.ready()), ...engines.map(({ engine }) => failure(() => engine.ready()))]);
    const failing = new Map<string, string>();
    if (audit) failing.set('audit', audit);
    engines.forEach(({ name }, i) => engineFailures[i] && failing.set(`engine ${name}`, engineFailures[i]));
    this.report(failing);

    const builtInFails = engines.some(({ builtIn }, i) => builtIn && engineFailures[i]);
    const enginesStatus: HealthStatus = builtInFails ? 'unavailable' : engineFailures.some(Boolean) ? 'degraded' : 'ok';
    const status: HealthStatus = audit || enginesStatus === 'unavailable' ? 'unavailable' : enginesStatus;
    return { status, version: this.version, audit: audit ? 'unavailable' : 'ok', engines: enginesStatus };
  }

  /** One line per part that failed or recovered since the last check. */
  private report(failing: Map<string, string>): void {
    for (const [part, reason] of failing) {
      if (!this.failing.has(part)) this.events.error('not_ready', { part, reason });
    }
    for (const part of this.failing.keys()) {
      if (!failing.has(part)) this.events.info('ready_again', { part });
    }
    this.failing = failing;
  }
}
