/**
 * Live views: a client watching what its principal may see learns within moments when a
 * policy, the catalog or the principal's own attributes change it, by push (GET /events on
 * HTTP), instead of refetching everything on a timer. What is pushed is versions only
 * (DatasetDetail.version per visible dataset); the client fetches what changed through the
 * ordinary, audited routes.
 *
 * A stream is audited like a read: an `access` record before the first event, a `complete`
 * record (with the number of updates sent) when it ends. It lives no longer than the
 * credential that opened it: the credential is verified again at every heartbeat and every
 * configuration change, and the stream ends when it no longer holds (the client reconnects
 * with a fresh one, as EventSource does).
 */
import { Principal, ViewVersions } from '../../common/api';
import { Catalog } from '../catalog/catalog';
import { Caller } from '../identity/authenticate';
import { decide } from '../policy/decide';
import { Policy } from '../policy/types';
import { datasetDetail } from './detail';
import { AuditTrail } from './trail';

/** What a watch needs of the configuration the service enforces (the gateway's Enforcement). */
export interface WatchedState {
  readonly catalog: Catalog;
  readonly policies: readonly Policy[];
  authenticate(authorization: string | undefined): Promise<Caller>;
}

/** How often a watching client gets a heartbeat (and its credential is checked again). */
export const HEARTBEAT_MS = 5_000;

/** How a transport carries a view stream. */
export interface ViewSink {
  /** Aborted when the client goes away. */
  readonly closed: AbortSignal;
  /** The access record is durable: start the stream. Called once, before any event. */
  open(): void;
  send(views: ViewVersions): void;
  /** Keeps the connection alive, and lets proxies in between notice a client gone. */
  heartbeat(): void;
  /** The stream is over (the credential no longer holds): end it. */
  end(): void;
}

interface Watcher {
  principal: Principal;
  authorization: string | undefined;
  sink: ViewSink;
  /** The last versions sent, as JSON. */
  sent: string;
  updates: number;
  stop(outcome: 'completed' | 'aborted', reason: string): void;
}

/** The versions of every dataset a principal may see. */
export function viewVersions(state: WatchedState, principal: Principal): ViewVersions {
  const { catalog, policies } = state;
  const datasets: Record<string, string> = {};
  for (const { name } of catalog.search(principal, policies, {}).datasets) {
    const dataset = catalog.get(name)!;
    datasets[name] = datasetDetail(dataset, decide(principal, dataset.facts, policies)).version;
  }
  return { datasets };
}

export class ViewWatch {
  private readonly watchers = new Set<Watcher>();
  private heartbeats?: NodeJS.Timeout;

  constructor(
    private readonly current: () => WatchedState,
    private readonly heartbeatMs = HEARTBEAT_MS
  ) {}

  /** Streams the principal's views into `sink`; resolves when the stream has ended and its end is recorded. */
  async watch(trail: AuditTrail, principal: Principal, authorization: string | undefined, sink: ViewSink): Promise<void> {
    const views = viewVersions(this.current(), principal);
    await trail.access('allowed', { rows: Object.keys(views.datasets).length });
    let finished!: () => void;
    const done = new Promise<void>(resolve => (finished = resolve));
    const watcher: Watcher = {
      principal,
      authorization,
      sink,
      sent: '',
      updates: 0,
      stop: (outcome, reason) => {
        if (!this.watchers.delete(watcher)) return;
        if (outcome === 'completed') sink.end();
        if (this.watchers.size === 0) {
          clearInterval(this.heartbeats);
          this.heartbeats = undefined;
        }
        void trail.complete(outcome, { rows: watcher.updates, reason }).then(finished);
      }
    };
    this.watchers.add(watcher);
    sink.closed.addEventListener('abort', () => watcher.stop('aborted', 'client disconnected'), { once: true });
    if (sink.closed.aborted) {
      watcher.stop('aborted', 'client disconnected');
    } else {
      sink.open();
      this.push(watcher, views);
      if (!this.heartbeats) {
        this.heartbeats = setInterval(() => void this.beat(), this.heartbeatMs);
        this.heartbeats.unref();
      }
    }
    await done;
  }

  /** The configuration changed: each stream's credential is checked against it, and what changed is pushed. */
  async changed(): Promise<void> {
    const state = this.current();
    const byPrincipal = new Map<string, ViewVersions>();
    await Promise.all(
      [...this.watchers].map(async watcher => {
        const principal = await this.reauthenticate(state, watcher);
        if (!principal) return;
        const key = JSON.stringify(principal);
        let views = byPrincipal.get(key);
        if (!views) {
          views = viewVersions(state, principal);
          byPrincipal.set(key, views);
        }
        this.push(watcher, views);
      })
    );
  }

  private async beat(): Promise<void> {
    const state = this.current();
    await Promise.all(
      [...this.watchers].map(async watcher => {
        if (await this.reauthenticate(state, watcher)) watcher.sink.heartbeat();
      })
    );
  }

  /** The watcher's principal under `state`, or null (and the stream ended) when its credential no longer holds. */
  private async reauthenticate(state: WatchedState, watcher: Watcher): Promise<Principal | null> {
    try {
      watcher.principal = (await state.authenticate(watcher.authorization)).principal;
      return watcher.principal;
    } catch (error) {
      watcher.stop('completed', `credential no longer valid: ${(error as Error).message}`);
      return null;
    }
  }

  private push(watcher: Watcher, views: ViewVersions): void {
    const text = JSON.stringify(views);
    if (text === watcher.sent || !this.watchers.has(watcher)) return;
    watcher.sent = text;
    watcher.updates++;
    watcher.sink.send(views);
  }
}
