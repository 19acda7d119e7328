/**
 * Callers identified by JupyterHub. A caller presents their own hub API token; the service asks
 * the hub who owns it (`GET /user`, which any valid token may call) and reads the token's record
 * (scope `read:tokens` of the service's own token). Two kinds of token are honoured:
 * - a **job token**: it holds the job scope (HUB_SCOPES.job) and nothing else but the hub's
 *   identify scopes of its owner (JOB_TOKEN_SCOPES: what the hub reports for a token made by
 *   `python -m warden token create`); it must expire, within `maxTokenLifetimeSeconds` of its
 *   creation. A token that can also mint tokens or start servers could outlive any bound.
 * - a **session token**: the single-user server's own token, which holds the read scope
 *   (HUB_SCOPES.read). The hub creates it at spawn without expiry and deletes it when the
 *   server stops, while every token made through the API expires when the hub sets
 *   `token_expires_in_max_seconds`. So a read-scoped token is honoured only if it has no expiry
 *   and the owner has a running server started right after the token's creation (the hub
 *   creates the token, then stamps the server's start: SERVER_TOKEN_WINDOW_MS; scope
 *   `read:servers`): not a token made for a cron job, even on a hub without that limit.
 * Anything else is refused, and where the hub named the owner the refusal says whose token it
 * was (AuthenticationError.owner), for the audit. Answers are cached for `cacheSeconds` (never
 * past the token's expiry), so a revoked token keeps working that long at most; concurrent
 * requests with one token share one lookup.
 */
import { createHash } from 'node:crypto';
import { HUB_SCOPES } from '../../common/api';
import { HubSettings } from '../config/types';
import { AuthenticationError, describeSeconds } from './verify';

export interface HubIdentity {
  user: string;
  /** The user's hub groups, when the hub is trusted for groups (else empty). */
  groups: string[];
  /** A job token: audited as client `job`. */
  job: boolean;
}

type LookedUp = HubIdentity & { expiresAt?: number };

interface CacheEntry {
  outcome: Promise<LookedUp>;
  /** Epoch ms after which the hub is asked again. */
  until: number;
}

/** The hub's answer to `GET /user` (fields Warden reads). */
interface HubUserModel {
  kind?: string;
  name?: string;
  groups?: unknown;
  scopes?: unknown;
  token_id?: string | null;
}

/** The hub's record of a token (`GET /users/:name/tokens/:id`, fields Warden reads). */
interface HubTokenRecord {
  created?: string;
  expires_at?: string | null;
}

/** A server in the hub's model of a user (`GET /users/:name` with `read:servers`); only active ones are listed. */
interface HubServerModel {
  started?: string | null;
  stopped?: boolean;
}

/**
 * What the hub reports in `GET /user` for a token made with only the job scope: the job scope
 * and the identify scopes the hub adds to every token of the owner (jupyterhub/scopes.py
 * `identify_scopes`), filtered to the owner. A job token holding anything else is refused.
 */
const JOB_TOKEN_SCOPES = [HUB_SCOPES.job, 'read:users:name', 'read:users:groups'] as const;

/**
 * The hub creates a server's token, runs the authenticator's pre-spawn hooks, then stamps the
 * server's `started` (jupyterhub/user.py `spawn`): a server's own token was created at most
 * this long before its server started.
 */
export const SERVER_TOKEN_WINDOW_MS = 60_000;

const LOOKUP_TIMEOUT_MS = 5000;
const MAX_CACHE_ENTRIES = 10_000;
const CREATE_JOB_TOKEN = 'create a job token with `python -m warden token create` in a terminal of your JupyterLab';

export class HubTokenVerifier {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly settings: HubSettings,
    private readonly now: () => number = Date.now
  ) {}

  verify(token: string): Promise<HubIdentity> {
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.cache.get(key);
    if (cached && cached.until > this.now()) return identityOf(cached);
    const entry: CacheEntry = { outcome: this.lookUp(token), until: Number.POSITIVE_INFINITY };
    this.remember(key, entry);
    entry.outcome.then(
      identity => {
        entry.until = Math.min(this.now() + this.settings.cacheSeconds * 1000, identity.expiresAt ?? Number.POSITIVE_INFINITY);
      },
      (error: AuthenticationError) => {
        // A refusal is an answer and is cached; a hub that did not answer is asked again next time.
        if (error.unavailable) this.cache.delete(key);
        else entry.until = this.now() + this.settings.cacheSeconds * 1000;
      }
    );
    return identityOf(entry);
  }

  private remember(key: string, entry: CacheEntry): void {
    this.cache.delete(key);
    if (this.cache.size >= MAX_CACHE_ENTRIES) {
      // Map iteration is insertion order: drop the oldest answer.
      this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(key, entry);
  }

  private async lookUp(token: string): Promise<LookedUp> {
    const owner = (await this.hubGet('/user', token, () => new AuthenticationError('JupyterHub does not accept this token (unknown, expired or revoked)'))) as HubUserModel;
    if (owner.kind !== 'user' || typeof owner.name !== 'string') {
      throw new AuthenticationError(`this hub token belongs to a ${owner.kind ?? 'non-user'}, not a user: Warden reads data only for users`);
    }
    const user = owner.name;
    try {
      return await this.check(user, owner);
    } catch (error) {
      // The hub has said whose token this is: the refusal names the owner, for the audit.
      if (error instanceof AuthenticationError) throw new AuthenticationError(error.message, error.unavailable, user);
      throw error;
    }
  }

  /** The checks of a token the hub says is `user`'s (see the top of this file). */
  private async check(user: string, owner: HubUserModel): Promise<LookedUp> {
    const scopes = Array.isArray(owner.scopes) ? owner.scopes.filter((scope): scope is string => typeof scope === 'string') : [];
    const holds = (scope: string) => scopes.includes(scope) || scopes.includes(`${scope}!user=${user}`);
    const job = holds(HUB_SCOPES.job);
    if (!job && !holds(HUB_SCOPES.read)) {
      throw new AuthenticationError(`this hub token has neither the scope ${HUB_SCOPES.read} (your server's own) nor ${HUB_SCOPES.job} (scheduled jobs): ${CREATE_JOB_TOKEN}`);
    }
    if (job) {
      const allowed = new Set([HUB_SCOPES.job, ...JOB_TOKEN_SCOPES.map(scope => `${scope}!user=${user}`)]);
      const extra = scopes.filter(scope => !allowed.has(scope));
      if (extra.length > 0) {
        throw new AuthenticationError(
          `this job token also holds ${extra.join(', ')}: a job token may hold only ${HUB_SCOPES.job}, so that it can do nothing but read as you until it expires. ` +
            `Revoke it and ${CREATE_JOB_TOKEN}`
        );
      }
    }
    if (!owner.token_id) throw new AuthenticationError('the hub did not identify this token: send a hub API token');
    const tokenPath = `/users/${encodeURIComponent(user)}/tokens/${encodeURIComponent(owner.token_id)}`;
    const record = (await this.hubGet(tokenPath, this.settings.serviceToken, status =>
      status === 404
        ? new AuthenticationError('JupyterHub no longer knows this token (revoked)')
        : new AuthenticationError(`JupyterHub refused the Warden service's own token (${status}) reading a token's record: the service needs the read:tokens scope`, true)
    )) as HubTokenRecord;
    const expiresAt = record.expires_at ? Date.parse(record.expires_at) : undefined;
    if (job) {
      if (expiresAt === undefined) throw new AuthenticationError(`a job token must expire: ${CREATE_JOB_TOKEN} (it expires in 30 days unless --expires says otherwise)`);
      const lifetime = Math.round((expiresAt - Date.parse(record.created ?? '')) / 1000);
      const max = this.settings.maxTokenLifetimeSeconds;
      if (!(lifetime <= max)) {
        throw new AuthenticationError(
          `this job token is valid for ${describeSeconds(lifetime)}, longer than the maximum of ${describeSeconds(max)} (identity.hub.max_token_lifetime_seconds): ` +
            `revoke it and create a shorter-lived one (\`python -m warden token create --expires ${durationArgument(max)}\` or less)`
        );
      }
    } else {
      await this.checkServerToken(user, record, expiresAt);
    }
    const groups = this.settings.trustedClaims.includes('groups') && Array.isArray(owner.groups) ? owner.groups.filter((group): group is string => typeof group === 'string') : [];
    return { user, groups, job, expiresAt };
  }

  /** A read-scoped token is honoured only as the own token of one of the owner's running servers. */
  private async checkServerToken(user: string, record: HubTokenRecord, expiresAt: number | undefined): Promise<void> {
    const notYours = `${HUB_SCOPES.read} is your server's own; for jobs use \`python -m warden token create\``;
    if (expiresAt !== undefined) {
      throw new AuthenticationError(`this hub token expires (${record.expires_at}), so it is not a server's own token, which the hub makes without expiry: ${notYours}`);
    }
    const model = (await this.hubGet(`/users/${encodeURIComponent(user)}`, this.settings.serviceToken, status =>
      status === 404
        ? new AuthenticationError(`JupyterHub no longer knows the user ${user}`)
        : new AuthenticationError(`JupyterHub refused the Warden service's own token (${status}) reading ${user}'s servers: the service needs the read:servers scope`, true)
    )) as { servers?: Record<string, HubServerModel> | null };
    const created = Date.parse(record.created ?? '');
    const ofARunningServer = Object.values(model.servers ?? {}).some(server => {
      const sinceCreated = Date.parse(server.started ?? '') - created;
      return !server.stopped && sinceCreated >= 0 && sinceCreated <= SERVER_TOKEN_WINDOW_MS;
    });
    if (!ofARunningServer) throw new AuthenticationError(`this hub token is not the token of a running server of ${user}: ${notYours}`);
  }

  /** GET a hub API path with `token`; `refusal` says what a 401, 403 or 404 means, anything else is the hub being unavailable. */
  private async hubGet(path: string, token: string, refusal: (status: number) => AuthenticationError): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.settings.apiUrl}${path}`, {
        headers: { authorization: `token ${token}`, accept: 'application/json' },
        signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS)
      });
    } catch (error) {
      throw new AuthenticationError(`JupyterHub did not answer (${(error as Error).message}): try again shortly`, true);
    }
    if (response.status === 401 || response.status === 403 || response.status === 404) {
      await response.body?.cancel();
      throw refusal(response.status);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new AuthenticationError(`JupyterHub answered ${response.status} to ${path.split('/')[1]}: try again shortly`, true);
    }
    try {
      return await response.json();
    } catch {
      throw new AuthenticationError('JupyterHub answered with something that is not JSON: check identity.hub.api_url', true);
    }
  }
}

/** Seconds as `python -m warden token create --expires` takes them, in the largest exact unit. */
function durationArgument(seconds: number): string {
  const units: [string, number][] = [['d', 86400], ['h', 3600], ['m', 60]];
  const [suffix, size] = units.find(([, size]) => seconds % size === 0) ?? ['s', 1];
  return `${seconds / size}${suffix}`;
}

function identityOf(entry: CacheEntry): Promise<HubIdentity> {
  return entry.outcome.then(({ user, groups, job }) => ({ user, groups, job }));
}
