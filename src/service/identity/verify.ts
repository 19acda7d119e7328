/**
 * Verifies bearer JWTs with `jose` and turns their claims into a Principal, completed by
 * the directory. Algorithms are pinned per key kind: HS256 only against the shared secret,
 * asymmetric algorithms only against the JWKS, so a public key can never verify an HMAC.
 */
import { readFileSync } from 'node:fs';
import { JWTPayload, JWTVerifyGetKey, createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { AttributeValue, Principal } from '../../common/api';
import { DirectoryEntry, IdentitySettings } from '../config/types';

export class AuthenticationError extends Error {}

export class TokenVerifier {
  private readonly secret?: Uint8Array;
  private readonly jwks?: JWTVerifyGetKey;

  constructor(private readonly settings: IdentitySettings) {
    if (settings.hs256SecretEnv) {
      const secret = process.env[settings.hs256SecretEnv];
      if (!secret || secret.length < 32) {
        throw new Error(`environment variable ${settings.hs256SecretEnv} must hold the HS256 secret (at least 32 characters)`);
      }
      this.secret = new TextEncoder().encode(secret);
    }
    if (settings.jwksFile) {
      this.jwks = createLocalJWKSet(JSON.parse(readFileSync(settings.jwksFile, 'utf8')));
    } else if (settings.jwksUrl) {
      this.jwks = createRemoteJWKSet(new URL(settings.jwksUrl));
    }
  }

  async verify(authorization: string | undefined): Promise<JWTPayload> {
    if (!authorization) {
      throw new AuthenticationError('missing bearer token: send "Authorization: Bearer <jwt>"');
    }
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!match) {
      throw new AuthenticationError('malformed Authorization header: expected "Bearer <jwt>"');
    }
    const token = match[1];
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new AuthenticationError('token is not a JWT');
    }
    if (!alg || !this.settings.algorithms.includes(alg)) {
      throw new AuthenticationError(`token algorithm ${alg ?? 'none'} is not accepted (accepted: ${this.settings.algorithms.join(', ')})`);
    }
    const options = { algorithms: [alg], audience: this.settings.audience, issuer: this.settings.issuer, requiredClaims: ['exp', 'sub'] };
    try {
      if (alg === 'HS256') {
        return (await jwtVerify(token, this.secret!, options)).payload;
      }
      if (!this.jwks) {
        throw new AuthenticationError(`no key set configured for ${alg}`);
      }
      return (await jwtVerify(token, this.jwks, options)).payload;
    } catch (error) {
      throw new AuthenticationError(explain(error));
    }
  }
}

function explain(error: unknown): string {
  if (error instanceof AuthenticationError) return error.message;
  if (error instanceof errors.JWTExpired) return 'token expired: get a fresh one';
  if (error instanceof errors.JWTClaimValidationFailed) return `token claim ${error.claim} rejected: ${error.reason === 'check_failed' ? 'unexpected value' : error.reason}`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key in the key set matches the token';
  if (error instanceof errors.JOSEError) return `invalid token: ${error.message}`;
  return 'invalid token';
}

function stringList(value: unknown, claim: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(item => typeof item === 'string')) {
    throw new AuthenticationError(`token claim ${claim} must be a list of strings`);
  }
  return value;
}

function attributeMap(value: unknown): Record<string, AttributeValue> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AuthenticationError('token claim attributes must be an object');
  }
  for (const [key, item] of Object.entries(value)) {
    const scalar = ['string', 'number', 'boolean'].includes(typeof item);
    const list = Array.isArray(item) && item.every(element => typeof element === 'string');
    if (!scalar && !list) {
      throw new AuthenticationError(`token claim attributes.${key} must be a string, number, boolean or list of strings`);
    }
  }
  return value as Record<string, AttributeValue>;
}

/** Claims first (the identity provider is authoritative), completed by the directory. */
export function principalFrom(payload: JWTPayload, directory: ReadonlyMap<string, DirectoryEntry>): Principal {
  const user = payload.sub;
  if (typeof user !== 'string' || user.length === 0) {
    throw new AuthenticationError('token has no subject (sub)');
  }
  const entry = directory.get(user);
  const groups = [...new Set([...stringList(payload.groups, 'groups'), ...(entry?.groups ?? [])])];
  return { user, groups, attributes: { ...(entry?.attributes ?? {}), ...attributeMap(payload.attributes) } };
}
