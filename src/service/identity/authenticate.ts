/**
 * Who is calling: the request's bearer credential, checked by the issuer it comes from, made
 * into the principal that policies see. Two issuers can be configured (warden.yaml `identity`):
 * a JWT issuer (an HS256 secret or an identity provider's JWKS) and JupyterHub (`identity.hub`:
 * the caller's own hub token). Each is trusted for the subject and, only where configured
 * (`trusted_claims`), for groups or attributes; the rest comes from the directory.
 */
import { ClientKind, Principal } from '../../common/api';
import { DirectoryEntry, IdentitySettings } from '../config/types';
import { HubTokenVerifier } from './hub';
import { AuthenticationError, TokenVerifier, bearerToken, principalFrom } from './verify';

export interface Caller {
  principal: Principal;
  /** Set when the credential says what kind of client it is (`job`), overriding the request header. */
  client?: ClientKind;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export class Authenticator {
  private readonly jwt?: TokenVerifier;
  private readonly hub?: HubTokenVerifier;

  constructor(private readonly settings: IdentitySettings) {
    if (settings.algorithms.length > 0) this.jwt = new TokenVerifier(settings);
    if (settings.hub) this.hub = new HubTokenVerifier(settings.hub);
  }

  async authenticate(authorization: string | undefined, directory: ReadonlyMap<string, DirectoryEntry>): Promise<Caller> {
    const token = bearerToken(authorization);
    if (JWT_SHAPE.test(token) || !this.hub) {
      if (!this.jwt) throw new AuthenticationError('this service accepts JupyterHub API tokens, not JWTs');
      return { principal: principalFrom(await this.jwt.verifyJwt(token), directory, this.settings.trustedClaims) };
    }
    const identity = await this.hub.verify(token);
    const entry = directory.get(identity.user);
    return {
      principal: { user: identity.user, groups: [...new Set([...identity.groups, ...(entry?.groups ?? [])])], attributes: { ...(entry?.attributes ?? {}) } },
      client: identity.job ? 'job' : undefined
    };
  }
}
