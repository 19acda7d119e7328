/**
 * Verifies bearer JWTs with `jose` and turns their claims into a Principal, completed by
 * the directory. Algorithms are pinned per key kind: HS256 only against the shared secret,
 * asymmetric algorithms only against the JWKS, so a public key can never verify an HMAC.
 */
import { readFileSync } from 'node:fs';
import { JWTPayload, JWTVerifyGetKey, createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { AttributeValue, Principal } from '../../common/api';
import { TrustedClaim } from '../config/schemas';
import { DirectoryEntry, IdentitySettings } from '../config/types';

export class AuthenticationError extends Error {
  /**
   * `unavailable`: the credential could not be checked (the hub did not answer), not refused.
   * `owner`: whose credential it is, when its issuer said so (the hub answered who owns a token
   * it then refused); never taken from what the caller sent. The audit names them.
   */
  constructor(
    message: string,
    readonly unavailable = false,
    readonly owner?: string
  ) {
    super(message);
  }
}

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
    return this.verifyJwt(bearerToken(authorization));
  }

  async verifyJwt(token: string): Promise<JWTPayload> {
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
    let payload: JWTPayload;
    try {
      if (alg === 'HS256') {
        payload = (await jwtVerify(token, this.secret!, options)).payload;
      } else if (!this.jwks) {
        throw new AuthenticationError(`no key set configured for ${alg}`);
      } else {
        payload = (await jwtVerify(token, this.jwks, options)).payload;
      }
    } catch (error) {
      throw new AuthenticationError(explain(error));
    }
    checkLifetime(payload, this.settings.maxTokenLifetimeSeconds);
    return payload;
  }
}

/**
 * A token may be valid for at most `maxSeconds`: from its `iat`, or from now when it has none
 * (or claims to be issued in the future), so a stolen token is useful for a bounded time.
 */
function checkLifetime(payload: JWTPayload, maxSeconds: number): void {
  const now = Math.floor(Date.now() / 1000);
  const issued = typeof payload.iat === 'number' ? Math.min(payload.iat, now) : now;
  const lifetime = payload.exp! - issued;
  if (lifetime > maxSeconds) {
    throw new AuthenticationError(
      `token lifetime of ${describeSeconds(lifetime)} exceeds the maximum of ${describeSeconds(maxSeconds)} (identity.max_token_lifetime_seconds): get a shorter-lived token`
    );
  }
}

export function describeSeconds(seconds: number): string {
  if (seconds >= 2 * 86400) return `${Math.round(seconds / 86400)} days`;
  if (seconds >= 2 * 3600) return `${Math.round(seconds / 3600)} hours`;
  if (seconds >= 120) return `${Math.round(seconds / 60)} minutes`;
  return `${seconds} s`;
}

/** The credential of an `Authorization: Bearer <token>` header. */
export function bearerToken(authorization: string | undefined): string {
  if (!authorization) {
    throw new AuthenticationError('missing bearer token: send "Authorization: Bearer <token>"');
  }
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (!match) {
    throw new AuthenticationError('malformed Authorization header: expected "Bearer <token>"');
  }
  return match[1];
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

/**
 * The subject, with groups and attributes from the directory, and from the token's claims
 * only where the issuer is trusted for them (`trusted`): a claim the issuer is not trusted
 * for is ignored, whatever it says.
 */
export function principalFrom(payload: JWTPayload, directory: ReadonlyMap<string, DirectoryEntry>, trusted: readonly TrustedClaim[]): Principal {
  const user = payload.sub;
  if (typeof user !== 'string' || user.length === 0) {
    throw new AuthenticationError('token has no subject (sub)');
  }
  // A subject is stored, shown and compared as text: one that is not well-formed Unicode (a
  // lone surrogate) or holds control characters (NUL) would be stored as another name (U+FFFD)
  // and share that user's audit records.
  if (/\p{Cs}|\p{Cc}/u.test(user)) {
    throw new AuthenticationError('token subject (sub) holds a lone surrogate or a control character: a user name must be plain text');
  }
  const entry = directory.get(user);
  const claimedGroups = trusted.includes('groups') ? stringList(payload.groups, 'groups') : [];
  const claimedAttributes = trusted.includes('attributes') ? attributeMap(payload.attributes) : {};
  const groups = [...new Set([...claimedGroups, ...(entry?.groups ?? [])])];
  return { user, groups, attributes: { ...(entry?.attributes ?? {}), ...claimedAttributes } };
}
