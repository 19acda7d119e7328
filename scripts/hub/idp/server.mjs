/**
 * The identity provider of the multi-user deployment: a small OpenID Connect provider built
 * on the `oidc-provider` package (OpenID-certified), with the demo personas, password login
 * and a `groups` claim. JupyterHub (oauthenticator's GenericOAuthenticator) is its one
 * client. It runs as its own OS user on loopback; its state directory (accounts with scrypt
 * password hashes, the client secret, cookie keys and the signing key) is readable by that
 * user only.
 *
 *   node server.mjs --state <dir> --port <port> --redirect-uri <hub>/hub/oauth_callback
 *
 * Sessions live in memory: a restart signs everybody out of the IdP (not out of the hub).
 */
import { generateKeyPairSync, scryptSync, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

const { values: options } = parseArgs({
  options: {
    state: { type: 'string' },
    port: { type: 'string' },
    'redirect-uri': { type: 'string' }
  }
});
if (!options.state || !options.port || !options['redirect-uri']) {
  console.error('usage: node server.mjs --state <dir> --port <port> --redirect-uri <url>');
  process.exit(2);
}

const issuer = `http://127.0.0.1:${options.port}`;
const readJson = name => JSON.parse(readFileSync(join(options.state, name), 'utf8'));
/** { "<name>": { "password": "<salt hex>:<scrypt hex>", "name": "...", "email": "...", "groups": [...] } } */
const accounts = readJson('accounts.json');
/** { "client_id", "client_secret", "cookie_keys": [...] } */
const client = readJson('client.json');

/** The signing key, made on first start (mode 0600 from the umask of the start script). */
function signingKeys() {
  const path = join(options.state, 'jwks.json');
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(path, JSON.stringify({ keys: [{ ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: `idp-${Date.now()}` }] }), { mode: 0o600 });
  }
  return JSON.parse(readFileSync(path, 'utf8'));
}

function passwordMatches(account, password) {
  const [salt, hash] = account.password.split(':');
  const expected = Buffer.from(hash, 'hex');
  const given = scryptSync(password, Buffer.from(salt, 'hex'), expected.length);
  return timingSafeEqual(expected, given);
}

const SCOPES = ['openid', 'profile', 'email', 'groups'];

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uris: [options['redirect-uri']],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic'
    }
  ],
  jwks: signingKeys(),
  cookies: { keys: client.cookie_keys },
  scopes: SCOPES,
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups']
  },
  async findAccount(_ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: account.name, email: account.email, groups: account.groups };
      }
    };
  },
  // JupyterHub is a first-party client: what it asks for within SCOPES is granted without a consent page.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(SCOPES.join(' '));
    await grant.save();
    return grant;
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: { devInteractions: { enabled: false } },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 8 * 3600, Grant: 8 * 3600 }
});

const escape = text => String(text).replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`);

function loginPage(uid, message = '') {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Warden demo sign-in</title>
<style>body{font-family:sans-serif;max-width:22rem;margin:4rem auto}label,input,button{display:block;width:100%;margin:.4rem 0}.error{color:#b00}</style></head>
<body><h1>Sign in</h1><p>Warden demo identity provider</p>${message ? `<p class="error">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>User name <input name="login" autocomplete="username" autofocus required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></body></html>`;
}

function send(response, status, html) {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  response.end(html);
}

async function formBody(request) {
  let text = '';
  for await (const chunk of request) {
    text += chunk;
    if (text.length > 8192) throw new Error('form too large');
  }
  return new URLSearchParams(text);
}

/** The login step of an authorization: the only interaction (consent is implied, see loadExistingGrant). */
async function interaction(request, response, uid, action) {
  const details = await provider.interactionDetails(request, response);
  if (details.uid !== uid || details.prompt.name !== 'login') {
    send(response, 400, '<p>This sign-in page has expired. Start again from JupyterHub.</p>');
    return;
  }
  if (request.method === 'GET' && !action) {
    send(response, 200, loginPage(uid));
    return;
  }
  if (request.method === 'POST' && action === 'login') {
    const form = await formBody(request);
    const login = form.get('login') ?? '';
    const account = Object.hasOwn(accounts, login) ? accounts[login] : undefined;
    if (!account || !passwordMatches(account, form.get('password') ?? '')) {
      console.log(`idp: failed sign-in for ${JSON.stringify(login.slice(0, 64))}`);
      send(response, 401, loginPage(uid, 'Unknown user name or wrong password.'));
      return;
    }
    console.log(`idp: ${login} signed in`);
    await provider.interactionFinished(request, response, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }
  send(response, 405, '<p>Method not allowed</p>');
}

const handleOidc = provider.callback();
const server = createServer((request, response) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/.exec(new URL(request.url, issuer).pathname);
  if (!match) {
    handleOidc(request, response);
    return;
  }
  interaction(request, response, match[1], match[2]).catch(error => {
    console.error(`idp: interaction failed: ${error.message}`);
    if (!response.headersSent) send(response, 400, `<p>${escape(error.message)}</p>`);
  });
});
server.listen(Number(options.port), '127.0.0.1', () => console.log(`idp: listening on ${issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
