/**
 * The hub token verifier's own rules (scopes, lifetime, server tokens, cache), against a stand-in
 * that answers the three JupyterHub API routes it calls the way JupyterHub 6 does (tokens' scopes
 * as `GET /user` reports them, with the identify scopes the hub adds). The real hub is exercised
 * by tests/hub (real logins, servers, job tokens, revocation).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressInfo } from 'node:net';
import { Server, createServer } from 'node:http';
import { newCall } from '../access/call';
import { AccessError } from '../access/errors';
import { AccessGateway } from '../access/gateway';
import { EventLog } from '../access/log';
import { AuditRecord } from '../audit/record';
import { Catalog } from '../catalog/catalog';
import { resourceSettings, thisMachine } from '../config/resources';
import { Authenticator } from '../identity/authenticate';
import { HubTokenVerifier, SERVER_TOKEN_WINDOW_MS } from '../identity/hub';
import { AuthenticationError } from '../identity/verify';

interface TokenRecord {
  kind?: string;
  name: string;
  scopes: string[];
  created: string;
  expires_at: string | null;
}

interface ServerModel {
  started: string;
  stopped: boolean;
}

const tokens = new Map<string, TokenRecord & { id: string }>();
/** Each user's active servers, by server name, as `GET /users/:name` lists them. */
const servers = new Map<string, Record<string, ServerModel>>();
const lookups: string[] = [];
let failing = false;
let server: Server;
let apiUrl: string;
/** The service's token: read:tokens and read:servers. */
const SERVICE_TOKEN = 'service-token';
/** A service token with read:tokens only (a hub configured before read:servers was needed). */
const TOKENS_ONLY_SERVICE_TOKEN = 'tokens-only-service-token';

before(async () => {
  server = createServer((request, response) => {
    const token = /^token (\S+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    const send = (status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (failing) return send(503, { message: 'hub restarting' });
    const service = token === SERVICE_TOKEN || token === TOKENS_ONLY_SERVICE_TOKEN;
    if (request.url === '/hub/api/user') {
      lookups.push(token);
      const record = tokens.get(token);
      if (!record) return send(403, { message: 'forbidden' });
      // JupyterHub adds the owner's identify scopes to every token (scopes.py identify_scopes).
      const identify = record.kind === 'service' ? [] : [`read:users:groups!user=${record.name}`, `read:users:name!user=${record.name}`];
      const scopes = [...new Set([...record.scopes, ...identify])].sort();
      return send(200, { kind: record.kind ?? 'user', name: record.name, groups: ['analysts'], scopes, token_id: record.id });
    }
    const tokenRoute = /^\/hub\/api\/users\/([^/]+)\/tokens\/([^/]+)$/.exec(request.url ?? '');
    if (tokenRoute && service) {
      const record = [...tokens.values()].find(candidate => candidate.id === tokenRoute[2] && candidate.name === decodeURIComponent(tokenRoute[1]));
      return record ? send(200, { created: record.created, expires_at: record.expires_at }) : send(404, { message: 'no such token' });
    }
    const userRoute = /^\/hub\/api\/users\/([^/]+)$/.exec(request.url ?? '');
    if (userRoute && token === SERVICE_TOKEN) {
      const name = decodeURIComponent(userRoute[1]);
      return send(200, { kind: 'user', name, servers: servers.get(name) ?? {} });
    }
    return send(403, { message: 'forbidden' });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hub/api`;
});
after(() => new Promise<void>(resolve => server.close(() => resolve())));

const iso = (offsetSeconds: number, from = Date.now()) => new Date(from + offsetSeconds * 1000).toISOString();

/** When alice's server started; her server's token was created just before (as the hub does). */
const ALICE_STARTED = Date.now() - 3600_000;
servers.set('alice', { '': { started: iso(0, ALICE_STARTED), stopped: false } });

/** A token of alice's; by default her running server's own (read scope, no expiry, created as it started). */
function issue(token: string, record: Partial<TokenRecord> = {}): void {
  tokens.set(token, { id: `a${tokens.size}`, name: 'alice', scopes: ['custom:warden:read!user=alice'], created: iso(-0.3, ALICE_STARTED), expires_at: null, ...record });
}

/** A job token of alice's, as `python -m warden token create` makes it (valid for an hour unless said). */
function issueJob(token: string, record: Partial<TokenRecord> = {}): void {
  issue(token, { scopes: ['custom:warden:job!user=alice'], created: iso(0), expires_at: iso(3600), ...record });
}

function verifier(overrides: { cacheSeconds?: number; maxTokenLifetimeSeconds?: number; serviceToken?: string } = {}): HubTokenVerifier {
  return new HubTokenVerifier({ apiUrl, serviceToken: SERVICE_TOKEN, trustedClaims: ['groups'], maxTokenLifetimeSeconds: 30 * 86400, cacheSeconds: 10, ...overrides });
}

/** Refused with `message`, naming `owner` (the hub said whose token it is) or nobody. */
async function refused(promise: Promise<unknown>, message: RegExp, { unavailable = false, owner = undefined as string | undefined } = {}): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AuthenticationError, String(error));
    assert.match(error.message, message);
    assert.deepEqual([error.unavailable, error.owner], [unavailable, owner]);
    return true;
  });
}

test('the owner of a token with a Warden scope, with the hub groups; a job token is marked as such', async () => {
  issue('session');
  issueJob('job');
  assert.deepEqual(await verifier().verify('session'), { user: 'alice', groups: ['analysts'], job: false });
  assert.deepEqual(await verifier().verify('job'), { user: 'alice', groups: ['analysts'], job: true });
  const untrusting = new HubTokenVerifier({ apiUrl, serviceToken: SERVICE_TOKEN, trustedClaims: [], maxTokenLifetimeSeconds: 86400, cacheSeconds: 0 });
  assert.deepEqual(await untrusting.verify('session'), { user: 'alice', groups: [], job: false });
});

test('refused: no Warden scope, a scope for another user, a service, a job token that never expires, a job token valid longer than the maximum', async () => {
  issue('no-scope', { scopes: ['access:servers!server=alice/'] });
  issue('scope-for-pat', { scopes: ['custom:warden:read!user=pat'] });
  issue('service', { kind: 'service', name: 'cron-service', scopes: ['custom:warden:read'] });
  issueJob('eternal-job', { expires_at: null });
  issueJob('sixty-days', { expires_at: iso(60 * 86400) });
  const hub = verifier();
  const alice = { owner: 'alice' };
  await refused(hub.verify('no-scope'), /neither the scope custom:warden:read \(your server's own\) nor custom:warden:job .*`python -m warden token create`/, alice);
  await refused(hub.verify('scope-for-pat'), /neither the scope custom:warden:read/, alice);
  await refused(hub.verify('service'), /belongs to a service, not a user/);
  await refused(hub.verify('eternal-job'), /a job token must expire/, alice);
  await refused(hub.verify('sixty-days'), /valid for 60 days, longer than the maximum of 30 days .*`python -m warden token create --expires 30d` or less/, alice);
  await refused(verifier({ maxTokenLifetimeSeconds: 7200 }).verify('sixty-days'), /maximum of 2 hours .*--expires 2h/, alice);
  await refused(hub.verify('unknown'), /JupyterHub does not accept this token/);
});

test('a job token holding any scope beyond the job scope (and the hub identify scopes of its owner) is refused, naming the extra scopes', async () => {
  // As the review made it from alice's kernel: it could mint tokens after her server stopped.
  issueJob('job-that-mints', { scopes: ['custom:warden:job!user=alice', 'tokens!user=alice', 'read:tokens!user=alice'] });
  issueJob('job-that-runs-code', { scopes: ['custom:warden:job!user=alice', 'servers!user=alice', 'access:servers!user=alice'] });
  issueJob('job-and-session', { scopes: ['custom:warden:job!user=alice', 'custom:warden:read!user=alice'] });
  issueJob('job-reading-all-names', { scopes: ['custom:warden:job!user=alice', 'read:users:name'] });
  issueJob('job-unfiltered', { scopes: ['custom:warden:job'] });
  const hub = verifier();
  const alice = { owner: 'alice' };
  await refused(hub.verify('job-that-mints'), /^this job token also holds read:tokens!user=alice, tokens!user=alice: a job token may hold only custom:warden:job, .*Revoke it and create a job token with `python -m warden token create`/, alice);
  await refused(hub.verify('job-that-runs-code'), /also holds access:servers!user=alice, servers!user=alice:/, alice);
  await refused(hub.verify('job-and-session'), /also holds custom:warden:read!user=alice:/, alice);
  await refused(hub.verify('job-reading-all-names'), /also holds read:users:name:/, alice);
  // The job scope without the user filter is the job scope still (Warden reads only as the owner).
  assert.deepEqual(await hub.verify('job-unfiltered'), { user: 'alice', groups: ['analysts'], job: true });
});

test("the read scope is honoured only on a running server's own token: no expiry, created as that server started", async () => {
  // Made through the hub's API with the server's tokens!user: every such token expires.
  issue('api-made-session', { created: iso(0), expires_at: iso(29 * 86400) });
  // Without expiry (a hub without token_expires_in_max_seconds) but not made by a spawn.
  issue('eternal-session', { created: iso(-86400) });
  issue('before-restart', { name: 'carlos', scopes: ['custom:warden:read!user=carlos'], created: iso(-120) });
  servers.set('carlos', { '': { started: iso(0), stopped: false } }); // restarted 2 minutes after that token was made
  issue('of-stopped-server', { name: 'cora', scopes: ['custom:warden:read!user=cora'], created: iso(-10) });
  servers.set('cora', { '': { started: iso(-9), stopped: true } });
  issue('of-named-server', { name: 'pat', scopes: ['custom:warden:read!user=pat'], created: iso(-5) });
  servers.set('pat', { '': { started: iso(-3600), stopped: false }, gpu: { started: iso(-5 + SERVER_TOKEN_WINDOW_MS / 1000 - 1), stopped: false } });
  const hub = verifier();
  const ownOnly = "custom:warden:read is your server's own; for jobs use `python -m warden token create`";
  await refused(hub.verify('api-made-session'), new RegExp(`^this hub token expires \\(.*\\), so it is not a server's own token, which the hub makes without expiry: ${escape(ownOnly)}$`), { owner: 'alice' });
  await refused(hub.verify('eternal-session'), new RegExp(`^this hub token is not the token of a running server of alice: ${escape(ownOnly)}$`), { owner: 'alice' });
  await refused(hub.verify('before-restart'), /not the token of a running server of carlos/, { owner: 'carlos' });
  await refused(hub.verify('of-stopped-server'), /not the token of a running server of cora/, { owner: 'cora' });
  assert.deepEqual(await hub.verify('of-named-server'), { user: 'pat', groups: ['analysts'], job: false });
  // A service token that cannot read servers: the service is misconfigured, the caller not refused.
  await refused(verifier({ serviceToken: TOKENS_ONLY_SERVICE_TOKEN }).verify('of-named-server'), /Warden service's own token \(403\) reading pat's servers: the service needs the read:servers scope/, {
    unavailable: true,
    owner: 'pat'
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('one lookup for concurrent requests with a token; answers and refusals cached, a hub outage not', async () => {
  issue('busy');
  const hub = verifier();
  lookups.length = 0;
  const answers = await Promise.all(Array.from({ length: 20 }, () => hub.verify('busy')));
  assert.ok(answers.every(answer => answer.user === 'alice'));
  await refused(hub.verify('revoked-before-use'), /does not accept/);
  await refused(hub.verify('revoked-before-use'), /does not accept/);
  assert.deepEqual(lookups, ['busy', 'revoked-before-use']);

  failing = true;
  await refused(hub.verify('while-down'), /JupyterHub answered 503/, { unavailable: true });
  failing = false;
  issue('while-down');
  assert.equal((await hub.verify('while-down')).user, 'alice');
});

test('the cache never outlives the token, nor cache_seconds', async () => {
  issueJob('expiring', { expires_at: iso(1) });
  issue('revoked-later');
  const longCache = verifier({ cacheSeconds: 60 });
  const shortCache = verifier({ cacheSeconds: 1 });
  await longCache.verify('expiring');
  await shortCache.verify('revoked-later');
  tokens.delete('expiring'); // the hub forgets expired tokens
  tokens.delete('revoked-later');
  await longCache.verify('expiring'); // still cached
  await shortCache.verify('revoked-later');
  await new Promise(resolve => setTimeout(resolve, 1100));
  await refused(longCache.verify('expiring'), /does not accept/);
  await refused(shortCache.verify('revoked-later'), /does not accept/);
});

test('through the access pipeline: a job token makes the call a job call whatever the client said; a hub that does not answer is service_unavailable, audited', async () => {
  issue('pipeline-session');
  issueJob('pipeline-job');
  const hub = { apiUrl, serviceToken: SERVICE_TOKEN, trustedClaims: [], maxTokenLifetimeSeconds: 86400, cacheSeconds: 0 };
  const authenticator = new Authenticator({ algorithms: [], trustedClaims: [], maxTokenLifetimeSeconds: 3600, hub });
  const directory = new Map([['alice', { groups: ['analysts'], attributes: { region: 'US' } }]]);
  const catalog = await Catalog.build([], { engineFor: () => assert.fail('no dataset here') });
  const records: AuditRecord[] = [];
  const enforcement = { catalog, policies: [], authenticate: (authorization: string | undefined) => authenticator.authenticate(authorization, directory), maskKeys: () => ({ hash: '', token: '' }), resources: resourceSettings(undefined, '.', thisMachine()) };
  const sink = { write: async (record: AuditRecord) => void records.push(record), ready: async () => undefined, close: async () => undefined };
  const access = new AccessGateway(() => enforcement, sink, new EventLog({ info: () => undefined, error: () => undefined }));

  const whoami = async (token: string) => {
    const call = newCall('python-client', undefined);
    await access.whoami(call, await access.authenticate(call, null, `Bearer ${token}`));
    return records.at(-1)!;
  };
  const session = await whoami('pipeline-session');
  assert.deepEqual([session.user_name, session.client], ['alice', 'python-client']);
  const job = await whoami('pipeline-job');
  assert.deepEqual([job.user_name, job.groups, job.client], ['alice', 'analysts', 'job']);
  // A header cannot claim to be a job.
  assert.equal(newCall('job', undefined).client, 'api');

  // Refusals name the owner the hub told (alice's failing cron), never anyone the caller says.
  issueJob('pipeline-job-that-mints', { scopes: ['custom:warden:job!user=alice', 'tokens!user=alice'] });
  issueJob('pipeline-job-too-long', { expires_at: iso(2 * 86400) });
  const refusal = async (token: string) => {
    await assert.rejects(access.authenticate(newCall('python-client', undefined), 'drug_xyz.trial_july2020', `Bearer ${token}`), (error: unknown) => error instanceof AccessError && error.code === 'unauthenticated');
    const { user_name, groups, outcome, action, dataset, reason } = records.at(-1)!;
    return { user_name, groups, outcome, action, dataset, reason: reason!.split(':')[0] };
  };
  const refusedAs = (user_name: string | null, reason: string) => ({ user_name, groups: null, outcome: 'unauthenticated', action: 'authenticate', dataset: 'drug_xyz.trial_july2020', reason });
  assert.deepEqual(await refusal('pipeline-job-that-mints'), refusedAs('alice', 'this job token also holds tokens!user=alice'));
  assert.deepEqual(await refusal('pipeline-job-too-long'), refusedAs('alice', 'this job token is valid for 2 days, longer than the maximum of 24 hours (identity.hub.max_token_lifetime_seconds)'));
  assert.deepEqual(await refusal('pipeline-revoked'), refusedAs(null, 'JupyterHub does not accept this token (unknown, expired or revoked)'));

  failing = true;
  try {
    await assert.rejects(access.authenticate(newCall('python-client', undefined), null, 'Bearer pipeline-while-down'), (error: unknown) => error instanceof AccessError && error.code === 'service_unavailable');
  } finally {
    failing = false;
  }
  assert.deepEqual([records.at(-1)!.outcome, records.at(-1)!.reason], ['unauthenticated', 'JupyterHub answered 503 to user: try again shortly']);
});
