/**
 * The access pipeline: every operation on data or metadata, with its fail-closed rules, for
 * any transport. HTTP (http/) is one adapter over it; another (Arrow Flight, an in-process
 * call) calls the same methods and so keeps every rule: authenticate, authorize (a dataset the
 * caller may not see does not exist for them), audit before anything is released, and for
 * rows the order of ./read.ts.
 */
import { CatalogPage, DatasetDetail, Principal, RowCount, Snippet } from '../../common/api';
import { AuditSink } from '../audit/log';
import { AuditAction } from '../audit/record';
import { ResourceSettings } from '../config/resources';
import { Catalog, CatalogDataset, CatalogQuery } from '../catalog/catalog';
import { MaskKeys } from '../engine/dialect';
import { Caller } from '../identity/authenticate';
import { AuthenticationError } from '../identity/verify';
import { Decision, decide } from '../policy/decide';
import { Policy } from '../policy/types';
import { Admission } from './admission';
import { Call } from './call';
import { countRows } from './count';
import { datasetDetail } from './detail';
import { PendingCompletions } from './completions';
import { AccessError, InvalidInput, datasetNotFound } from './errors';
import { EventLog } from './log';
import { readRows } from './read';
import { ReadRequest, previewRequest, scanRequest, snippetFlavour } from './requests';
import { ResultSink } from './sink';
import { snippetFor } from './snippet';
import { AuditTrail, AuditedCaller } from './trail';
import { ViewSink, ViewWatch } from './watch';

/** What the pipeline enforces with: one configuration, read once per call so a reload never mixes two. */
export interface Enforcement {
  readonly catalog: Catalog;
  readonly policies: readonly Policy[];
  authenticate(authorization: string | undefined): Promise<Caller>;
  maskKeys(dataset: string): MaskKeys;
  readonly resources: ResourceSettings;
}

/**
 * A caller the gateway authenticated. Only `AccessGateway.authenticate` makes one, and every
 * operation checks it did, so no transport can act for a principal it did not verify (a
 * principal built from a header, say).
 */
export class Authenticated {
  private static readonly issued = new WeakSet<Authenticated>();

  private constructor(readonly principal: Principal) {}

  /** For the gateway alone. */
  static issue(principal: Principal): Authenticated {
    const attributes = Object.fromEntries(Object.entries(principal.attributes).map(([key, value]) => [key, Array.isArray(value) ? Object.freeze([...value]) : value]));
    const frozen = { user: principal.user, groups: Object.freeze([...principal.groups]), attributes: Object.freeze(attributes) } as Principal;
    const caller = new Authenticated(Object.freeze(frozen));
    Authenticated.issued.add(caller);
    return caller;
  }

  /** The principal, if `caller` was issued by `issue`; otherwise a refusal. */
  static verified(caller: Authenticated): Principal {
    if (!Authenticated.issued.has(caller)) throw new AccessError('unauthenticated', 'the caller was not authenticated by the access gateway');
    return caller.principal;
  }
}

/** What every operation begins with (AccessGateway.start). */
interface Started<T> {
  principal: Principal;
  state: Enforcement;
  trail: AuditTrail;
  input: T;
}

/** A dataset the principal may access, and the decision that says how. */
interface Authorized {
  dataset: CatalogDataset;
  decision: Decision;
}

export class AccessGateway {
  /** What reads may take of the service: its state outlives reloads, its settings follow them. */
  readonly admission = new Admission(() => this.current().resources);
  /** Complete records the sink could not take when their stream ended, written when it can. */
  readonly completions: PendingCompletions;
  /** Reads releasing rows now: a stop waits for each to record its end. */
  private readonly reading = new Set<Promise<void>>();
  private stopping = false;
  private readonly views: ViewWatch;

  constructor(
    private readonly current: () => Enforcement,
    private readonly audit: AuditSink,
    private readonly events: EventLog
  ) {
    this.completions = new PendingCompletions(audit, events);
    this.views = new ViewWatch(current);
  }

  /**
   * Stops: streams cut from now on record that the service stopped (`cutTransports` cuts them:
   * the transport closes its connections), and this resolves once every stream recorded its
   * end and the pending complete records were written, or logged if the sink still fails.
   */
  async stop(cutTransports: () => void): Promise<void> {
    this.stopping = true;
    cutTransports();
    await Promise.allSettled([...this.reading]);
    await this.completions.flush();
    this.completions.stop();
  }

  /**
   * The principal a credential (`Bearer <token>`) stands for; a refusal is audited, naming the
   * credential's owner where its issuer told (a hub token the hub said is alice's, refused for
   * its scopes or lifetime), so a failing job is seen as its owner's. A job credential makes
   * the call a `job` call, whatever the client said.
   */
  async authenticate(call: Call, dataset: string | null, authorization: string | undefined): Promise<Authenticated> {
    try {
      const caller = await this.current().authenticate(authorization);
      if (caller.client) call.client = caller.client;
      return Authenticated.issue(caller.principal);
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      await this.trail(call, 'authenticate', dataset, error.owner === undefined ? undefined : { user: error.owner }).access('unauthenticated', { reason: error.message });
      throw new AccessError(error.unavailable ? 'service_unavailable' : 'unauthenticated', error.message);
    }
  }

  async whoami(call: Call, caller: Authenticated): Promise<Principal> {
    const { principal, trail } = await this.start(call, caller, 'whoami', () => undefined);
    await trail.access('allowed');
    return principal;
  }

  /** The datasets the principal may access that match the query. */
  async catalog(call: Call, caller: Authenticated, query: CatalogQuery): Promise<CatalogPage> {
    const { principal, state, trail } = await this.start(call, caller, 'catalog', () => undefined);
    const page = state.catalog.search(principal, state.policies, query);
    await trail.access('allowed', { caller_filter: query.q ?? null, rows: page.datasets.length });
    return page;
  }

  async describe(call: Call, caller: Authenticated, name: string): Promise<DatasetDetail> {
    const { trail, dataset, decision } = await this.startOn(call, caller, 'describe', name, () => undefined);
    const detail = datasetDetail(dataset, decision);
    await trail.access('allowed', { policies: decision.policies.join(', '), row_filter: detail.rowFilter?.description ?? null });
    return detail;
  }

  /** A snippet that loads the dataset; `flavour` as written in the request. */
  async snippet(call: Call, caller: Authenticated, name: string, flavour: string | null): Promise<Snippet> {
    const { trail, input } = await this.startOn(call, caller, 'snippet', name, () => snippetFlavour(flavour));
    await trail.access('allowed');
    return snippetFor(name, input);
  }

  /** The first rows of a dataset, with mask indicators; `limit` and `orderBy` entries as written in the request. */
  async preview(call: Call, caller: Authenticated, name: string, limit: string | null, sink: ResultSink, orderBy: string[] = []): Promise<void> {
    await this.read(await this.startOn(call, caller, 'preview', name, () => previewRequest(limit, orderBy)), sink);
  }

  /** How many rows of a dataset the principal may see, up to ROW_COUNT_LIMIT. */
  async count(call: Call, caller: Authenticated, name: string): Promise<RowCount> {
    const { trail, dataset, decision } = await this.startOn(call, caller, 'count', name, () => undefined);
    return countRows(trail, dataset, decision, call.requestId);
  }

  /**
   * What the principal may see, as versions, now and whenever it changes, until the client
   * goes or `authorization` (verified again as time passes) no longer holds (./watch.ts).
   */
  async watch(call: Call, caller: Authenticated, authorization: string | undefined, sink: ViewSink): Promise<void> {
    const { principal, trail } = await this.start(call, caller, 'watch', () => undefined);
    await this.views.watch(trail, principal, authorization, sink);
  }

  /** The configuration changed (a reload): watching clients learn what changed for them. */
  viewsChanged(): Promise<void> {
    return this.views.changed();
  }

  /** Rows of a dataset as a scan body (`ScanRequest`, unchecked JSON) asks. */
  async scan(call: Call, caller: Authenticated, name: string, body: unknown, sink: ResultSink): Promise<void> {
    await this.read(await this.startOn(call, caller, 'scan', name, () => scanRequest(body)), sink);
  }

  private async read({ principal, state, trail, dataset, decision, input }: Started<ReadRequest> & Authorized, sink: ResultSink): Promise<void> {
    const reading = readRows(trail, dataset, decision, input, state.maskKeys(dataset.config.name), sink, {
      events: this.events,
      stopping: () => this.stopping,
      admission: this.admission,
      principal
    });
    this.reading.add(reading);
    try {
      await reading;
    } finally {
      this.reading.delete(reading);
    }
  }

  /**
   * An operation on no dataset begins: the caller's principal (issued by `authenticate`), the
   * configuration it runs with (read once per call, so a reload never mixes two), its trail,
   * and its input, read by `input`.
   */
  private async start<T>(call: Call, caller: Authenticated, action: AuditAction, input: () => T | Promise<T>): Promise<Started<T>> {
    const principal = Authenticated.verified(caller);
    const trail = this.trail(call, action, null, principal);
    return { principal, state: this.current(), trail, input: await this.checked(call, trail, input) };
  }

  /**
   * An operation on dataset `name` begins: as `start`, with the dataset authorized before
   * the input is read, so that a dataset the caller may not see is not found whatever else
   * the request says. A name the transport could not read names no dataset: refused first.
   */
  private async startOn<T>(call: Call, caller: Authenticated, action: AuditAction, name: string, input: () => T | Promise<T>): Promise<Started<T> & Authorized> {
    const principal = Authenticated.verified(caller);
    const state = this.current();
    const trail = this.trail(call, action, name, principal);
    if (call.malformed?.detail.inDatasetName) await this.checked(call, trail, () => undefined);
    const authorized = await this.authorize(state, trail, principal);
    return { principal, state, trail, ...authorized, input: await this.checked(call, trail, input) };
  }

  /** The call's input; malformed input (found by the transport, or by `input`) is refused with an `invalid` record. */
  private async checked<T>(call: Call, trail: AuditTrail, input: () => T | Promise<T>): Promise<T> {
    try {
      if (call.malformed) throw call.malformed;
      return await input();
    } catch (error) {
      if (error instanceof InvalidInput) await trail.access('invalid', { reason: error.message, caller_filter: error.detail.callerFilter ?? null });
      throw error;
    }
  }

  /**
   * The dataset and the principal's decision for it; otherwise not-found. Hidden and missing
   * datasets are recorded alike, as what the caller was told; the truth goes to the
   * compliance-only fields.
   */
  private async authorize(state: Enforcement, trail: AuditTrail, principal: Principal): Promise<Authorized> {
    const name = trail.dataset!;
    const dataset = state.catalog.get(name);
    const decision = dataset && decide(principal, dataset.facts, state.policies);
    if (!dataset || !decision?.allowed) {
      const notFound = datasetNotFound(name);
      await trail.access('not_found', { reason: notFound.message, actual_outcome: dataset ? 'denied' : 'not_found', actual_reason: decision?.denial ?? 'no such dataset' });
      throw notFound;
    }
    return { dataset, decision };
  }

  private trail(call: Call, action: AuditAction, dataset: string | null, caller?: AuditedCaller): AuditTrail {
    return new AuditTrail(this.audit, this.completions, call, action, dataset, caller);
  }
}
