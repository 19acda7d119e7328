/**
 * Creates the identity provider's accounts and client, once (scripts/hub/install.sh):
 *   node provision.mjs --personas personas.json --idp-state <dir> --hub-state <dir>
 * Each persona gets a random password (kept: a second run only refreshes names and groups).
 * Written files, for their owners only: <idp-state>/accounts.json (scrypt hashes) and
 * client.json (client secret, cookie keys); <hub-state>/oauth-client.json (the same client
 * secret, for JupyterHub) and <hub-state>/logins.txt (the demo passwords, for the operator).
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: options } = parseArgs({
  options: { personas: { type: 'string' }, 'idp-state': { type: 'string' }, 'hub-state': { type: 'string' } }
});
const readJson = path => JSON.parse(readFileSync(path, 'utf8'));
const writePrivate = (path, value) => writeFileSync(path, typeof value === 'string' ? value : `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
const secret = () => randomBytes(32).toString('base64url');

const accountsPath = join(options['idp-state'], 'accounts.json');
const loginsPath = join(options['hub-state'], 'logins.txt');
const accounts = existsSync(accountsPath) ? readJson(accountsPath) : {};
const logins = new Map(existsSync(loginsPath) ? readFileSync(loginsPath, 'utf8').trim().split('\n').map(line => line.split(' ')) : []);
for (const persona of readJson(options.personas).personas) {
  if (!accounts[persona.name] || !logins.has(persona.name)) {
    const password = randomBytes(9).toString('base64url');
    const salt = randomBytes(16);
    accounts[persona.name] = { password: `${salt.toString('hex')}:${scryptSync(password, salt, 32).toString('hex')}` };
    logins.set(persona.name, password);
  }
  Object.assign(accounts[persona.name], { name: persona.full_name, email: `${persona.name}@example.com`, groups: persona.groups });
}
writePrivate(accountsPath, accounts);
writePrivate(loginsPath, [...logins].map(([name, password]) => `${name} ${password}\n`).join(''));

const clientPath = join(options['idp-state'], 'client.json');
if (!existsSync(clientPath)) {
  const client = { client_id: 'jupyterhub', client_secret: secret(), cookie_keys: [secret()] };
  writePrivate(clientPath, client);
  writePrivate(join(options['hub-state'], 'oauth-client.json'), { client_id: client.client_id, client_secret: client.client_secret });
}
console.log(`provision: ${Object.keys(accounts).length} accounts`);
