import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { AuthenticationError, TokenVerifier, principalFrom } from '../identity/verify';
import { SECRET, tempDir, token } from './helpers';

const hsSettings = { audience: 'warden', issuer: 'jupyter-server', hs256SecretEnv: 'WARDEN_JWT_SECRET', algorithms: ['HS256'], trustedClaims: [], maxTokenLifetimeSeconds: 24 * 3600 };

async function rejects(verifier: TokenVerifier, authorization: string | undefined, message: RegExp): Promise<void> {
  await assert.rejects(verifier.verify(authorization), (error: unknown) => error instanceof AuthenticationError && message.test(error.message));
}

test('HS256: a good token verifies; bad ones are refused with a clear reason', async () => {
  const verifier = new TokenVerifier(hsSettings);
  assert.equal((await verifier.verify(`Bearer ${await token('alice')}`)).sub, 'alice');
  await rejects(verifier, undefined, /missing bearer token/);
  await rejects(verifier, 'Basic abc', /malformed Authorization header/);
  await rejects(verifier, 'Bearer not-a-jwt', /token is not a JWT/);
  await rejects(verifier, `Bearer ${await token('alice', { expiresIn: '-1m' })}`, /token expired/);
  await rejects(verifier, `Bearer ${await token('alice', { audience: 'other' })}`, /claim aud rejected/);
  await rejects(verifier, `Bearer ${await token('alice', { issuer: 'evil' })}`, /claim iss rejected/);
  await rejects(verifier, `Bearer ${await token('alice', { secret: 'another-secret-of-sufficient-length-123' })}`, /signature is invalid/);
});

test('HS256: a token that is not yet valid is refused', async () => {
  const early = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setAudience('warden').setIssuer('jupyter-server')
    .setNotBefore('10m').setExpirationTime('20m').sign(new TextEncoder().encode(SECRET));
  await rejects(new TokenVerifier(hsSettings), `Bearer ${early}`, /claim nbf rejected/);
});

test('alg none and tampered payloads are refused', async () => {
  const verifier = new TokenVerifier(hsSettings);
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'none' })}.${encode({ sub: 'pat', aud: 'warden', iss: 'jupyter-server', exp: Date.now() / 1000 + 60 })}.`;
  await rejects(verifier, `Bearer ${unsigned}`, /algorithm none is not accepted/);
  const [header, , signature] = (await token('alice')).split('.');
  const forged = `${header}.${encode({ sub: 'pat', aud: 'warden', iss: 'jupyter-server', exp: Math.floor(Date.now() / 1000) + 60 })}.${signature}`;
  await rejects(verifier, `Bearer ${forged}`, /signature is invalid/);
});

test('RS256 and ES256 against a JWKS file; HS256 signed with the public key is refused (algorithm confusion)', async () => {
  const dir = tempDir('jwks');
  try {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256' }] };
    const jwksFile = join(dir.path, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(jwks));
    const verifier = new TokenVerifier({ audience: 'warden', jwksFile, algorithms: ['RS256', 'ES256'], trustedClaims: [], maxTokenLifetimeSeconds: 3600 });
    const sign = (alg: string, kid: string, key: Parameters<SignJWT['sign']>[0]) =>
      new SignJWT({ groups: ['analysts'] }).setProtectedHeader({ alg, kid }).setSubject('bob').setAudience('warden').setExpirationTime('5m').sign(key);
    assert.equal((await verifier.verify(`Bearer ${await sign('RS256', 'rsa', rsa.privateKey)}`)).sub, 'bob');
    assert.equal((await verifier.verify(`Bearer ${await sign('ES256', 'ec', ec.privateKey)}`)).sub, 'bob');
    const publicPem = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    await rejects(verifier, `Bearer ${await sign('HS256', 'rsa', publicPem)}`, /algorithm HS256 is not accepted/);
    const stranger = await generateKeyPair('RS256');
    await rejects(verifier, `Bearer ${await sign('RS256', 'rsa', stranger.privateKey)}`, /signature is invalid/);
  } finally {
    dir.remove();
  }
});

test('principal: subject only by default; groups and attributes from claims only where the issuer is trusted for them', () => {
  const directory = new Map([['alice', { groups: ['analysts'], attributes: { region: 'US', clearance: 'standard' } }]]);
  const claims = { sub: 'alice', groups: ['privacy-officers'], attributes: { clearance: 'high', region: 'FR' } };
  assert.deepEqual(principalFrom(claims, directory, []), { user: 'alice', groups: ['analysts'], attributes: { region: 'US', clearance: 'standard' } });
  assert.deepEqual(principalFrom(claims, directory, ['groups']), { user: 'alice', groups: ['privacy-officers', 'analysts'], attributes: { region: 'US', clearance: 'standard' } });
  assert.deepEqual(principalFrom(claims, directory, ['groups', 'attributes']), {
    user: 'alice',
    groups: ['privacy-officers', 'analysts'],
    attributes: { region: 'FR', clearance: 'high' }
  });
  assert.deepEqual(principalFrom({ sub: 'nobody' }, directory, ['groups', 'attributes']), { user: 'nobody', groups: [], attributes: {} });
  // Malformed claims are refused only where they would be used.
  assert.deepEqual(principalFrom({ sub: 'alice', groups: 'admins' }, directory, []).groups, ['analysts']);
  assert.throws(() => principalFrom({ sub: 'alice', groups: 'admins' }, directory, ['groups']), /claim groups must be a list of strings/);
  assert.throws(() => principalFrom({ sub: 'alice', attributes: { x: { y: 1 } } }, directory, ['attributes']), /attributes\.x must be/);
});

test('a subject that would be stored as another name (a lone surrogate, NUL or another control character) is refused', () => {
  // Audit records keep names as text: "mal\ud800lory" would become "mal\ufffdlory" and read
  // that user's records as its own.
  for (const sub of ['mal\ud800lory', 'ev\u0000e', 'tab\there', 'bell\u0007', 'c1\u0085x', 'lone\udc00']) {
    assert.throws(() => principalFrom({ sub }, new Map(), []), (error: unknown) => error instanceof AuthenticationError && /lone surrogate or a control character/.test(error.message), JSON.stringify(sub));
  }
  for (const sub of ['mal\ufffdlory', 'zoë', '😀 emoji', 'a.b-c_d@example.com']) assert.equal(principalFrom({ sub }, new Map(), []).user, sub);
});

test('lifetime: a token valid for longer than the configured maximum is refused, counted from iat or from now', async () => {
  const verifier = new TokenVerifier({ ...hsSettings, maxTokenLifetimeSeconds: 3600 });
  const sign = (build: (jwt: SignJWT) => SignJWT) =>
    build(new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setAudience('warden').setIssuer('jupyter-server')).sign(new TextEncoder().encode(SECRET));
  const now = Math.floor(Date.now() / 1000);
  assert.equal((await verifier.verify(`Bearer ${await sign(jwt => jwt.setIssuedAt(now).setExpirationTime(now + 3600))}`)).sub, 'alice');
  await rejects(verifier, `Bearer ${await sign(jwt => jwt.setIssuedAt(now).setExpirationTime(now + 10 * 365 * 86400))}`, /token lifetime of 3650 days exceeds the maximum of 60 minutes/);
  // Issued long ago, still valid for a minute: the whole lifetime counts.
  await rejects(verifier, `Bearer ${await sign(jwt => jwt.setIssuedAt(now - 7200).setExpirationTime(now + 60))}`, /token lifetime of 2 hours exceeds/);
  // No iat, or an iat in the future: counted from now.
  await rejects(verifier, `Bearer ${await sign(jwt => jwt.setExpirationTime(now + 7200))}`, /token lifetime of 2 hours exceeds/);
  await rejects(verifier, `Bearer ${await sign(jwt => jwt.setIssuedAt(now + 7000).setExpirationTime(now + 7200))}`, /token lifetime of 2 hours exceeds/);
  assert.equal((await verifier.verify(`Bearer ${await sign(jwt => jwt.setExpirationTime(now + 600))}`)).sub, 'alice');
});
