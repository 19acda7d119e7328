/**
 * The JSON Schemas of the config files, as TypeBox declarations: each gives the validator and
 * the TypeScript type of what it validates. Parts that registries own are generated from
 * them: a policy's `mask` from the masks (common/masks.ts), a connection in warden.yaml and a
 * catalog source from the engine kinds (engine/kinds.ts).
 */
import { type Static, Type } from '@sinclair/typebox';
import { MaskSpec, maskJsonSchema } from '../../common/masks';
import { ORDER_KEY } from '../../common/order';
import { EngineKind } from '../engine/engine';
import { DEFAULT_KIND } from '../engine/kinds';
import { postgresKind } from '../engine/postgres';
import { FILE_FORMATS } from '../engine/source';
import { resourcesSchema } from './resources';

const name = Type.String({ minLength: 1 });
const names = Type.Array(name, { minItems: 1 });
const scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
const identifier = '^[A-Za-z_][A-Za-z0-9_]*$';

/** One of a list of strings, reported as such ("must be one of ..."). */
export function oneOf<T extends string>(values: readonly T[]) {
  return Type.Unsafe<T>({ enum: values });
}

// -- warden.yaml --------------------------------------------------------------------------

/** Claims an issuer can be trusted for besides the subject. */
export const TRUSTED_CLAIMS = ['groups', 'attributes'] as const;
export type TrustedClaim = (typeof TRUSTED_CLAIMS)[number];

function trustedClaims(claims: readonly TrustedClaim[]) {
  return Type.Array(oneOf(claims), {
    uniqueItems: true,
    description: 'what this issuer is trusted for besides the subject; default nothing (groups and attributes then come from directory.yaml)'
  });
}

/** `identity.hub`: callers present their own JupyterHub API token, checked with the hub. */
const hubSchema = Type.Object(
  {
    api_url: Type.Optional(Type.String({ pattern: '^https?://', description: "the hub's API (default: $JUPYTERHUB_API_URL, set by the hub for its services)" })),
    service_token_env: Type.Optional(
      Type.String({ pattern: identifier, description: "environment variable with the service's own hub token, which needs the scopes read:tokens and read:servers (default JUPYTERHUB_API_TOKEN)" })
    ),
    // The hub knows users' groups, not attributes.
    trusted_claims: Type.Optional(trustedClaims(['groups'])),
    max_token_lifetime_seconds: Type.Optional(
      Type.Integer({ minimum: 1, description: 'job tokens that expire later than this after their creation are refused, and job tokens must expire (default 2592000, 30 days); session tokens are servers\' own, which do not expire' })
    ),
    cache_seconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 300, description: "how long the hub's answer about a token is reused: a revoked token works at most this long (default 10)" })
    )
  },
  { additionalProperties: false, description: 'Callers present their own JupyterHub API token, checked with the hub (Warden as a JupyterHub service)' }
);

/** A connection: `kind` picks the engine kind (default postgres) whose schema the rest must meet. */
function connectionSchema(kinds: readonly EngineKind[]) {
  return Type.Unsafe<Record<string, unknown> & { kind?: string }>({
    type: 'object',
    properties: { kind: { enum: kinds.map(kind => kind.kind) } },
    allOf: kinds.map(kind => ({
      if: kind.kind === DEFAULT_KIND ? { properties: { kind: { const: kind.kind } } } : { required: ['kind'], properties: { kind: { const: kind.kind } } },
      then: { ...kind.connectionSchema, properties: { kind: { const: kind.kind }, ...kind.connectionSchema.properties } }
    }))
  });
}

export function settingsSchema(kinds: readonly EngineKind[]) {
  return Type.Object(
    {
      data_roots: names,
      identity: Type.Object(
        {
          audience: Type.Optional(Type.String({ minLength: 1, description: 'the `aud` every JWT must carry (required with a JWT key)' })),
          issuer: Type.Optional(name),
          hs256_secret_env: Type.Optional(Type.String({ pattern: identifier })),
          jwks_file: Type.Optional(name),
          jwks_url: Type.Optional(Type.String({ pattern: '^https?://' })),
          algorithms: Type.Optional(Type.Array(oneOf(['HS256', 'RS256', 'ES256', 'PS256', 'EdDSA']), { minItems: 1 })),
          trusted_claims: Type.Optional(trustedClaims(TRUSTED_CLAIMS)),
          max_token_lifetime_seconds: Type.Optional(
            Type.Integer({ minimum: 1, description: 'JWTs whose exp lies further than this after their iat (or after now) are refused (default 86400)' })
          ),
          hub: Type.Optional(hubSchema)
        },
        // A JWT key, JupyterHub, or both; `audience` goes with a JWT key (checked by load.ts).
        { additionalProperties: false, anyOf: [{ required: ['hs256_secret_env'] }, { required: ['jwks_file'] }, { required: ['jwks_url'] }, { required: ['hub'] }] }
      ),
      connections: Type.Optional(
        Type.Record(Type.String(), connectionSchema(kinds), {
          description: 'Query engines by name, for catalog sources and the audit sink. Passwords come from the environment, never from this file.',
          propertyNames: { description: 'a connection name (letters, digits and _; not starting with a digit)', pattern: identifier }
        })
      ),
      audit: Type.Object(
        {
          path: Type.Optional(name),
          // The audit table is a PostgreSQL table, named as that engine names tables.
          postgres: Type.Optional(Type.Object({ connection: name, table: Type.Optional(postgresKind.tableSchema) }, { additionalProperties: false }))
        },
        { additionalProperties: false, oneOf: [{ required: ['path'] }, { required: ['postgres'] }] }
      ),
      masking: Type.Optional(Type.Object({ key_file: Type.Optional(name) }, { additionalProperties: false })),
      resources: Type.Optional(resourcesSchema)
    },
    { additionalProperties: false, title: 'Warden service settings (warden.yaml)' }
  );
}


export type SettingsYaml = Static<ReturnType<typeof settingsSchema>>;

// -- directory.yaml -----------------------------------------------------------------------

export const directorySchema = Type.Object(
  {
    users: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Object(
          {
            groups: Type.Optional(Type.Array(name)),
            attributes: Type.Optional(
              Type.Record(Type.String(), Type.Union([scalar, Type.Array(Type.String())]), {
                propertyNames: { pattern: identifier, not: { enum: ['name', 'groups'] } }
              })
            )
          },
          { additionalProperties: false }
        )
      )
    ),
    groups: Type.Optional(Type.Record(Type.String(), Type.Object({ description: Type.Optional(Type.String()) }, { additionalProperties: false })))
  },
  { additionalProperties: false, title: 'Warden directory (directory.yaml)' }
);


// -- catalog/*.yaml -----------------------------------------------------------------------

const tags = Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:-]+$' }));

/** A source: a file format (read by DuckDB) or an engine kind with one of its connections. */
function sourceSchema(kinds: readonly EngineKind[]) {
  const fileSource = { additionalProperties: false, required: ['path'], properties: { format: true, path: name } };
  return Type.Unsafe<{ format: string; path?: string; connection?: string; table?: string }>({
    type: 'object',
    required: ['format'],
    properties: { format: { enum: [...FILE_FORMATS, ...kinds.map(kind => kind.kind)] } },
    allOf: [
      { if: { required: ['format'], properties: { format: { enum: FILE_FORMATS } } }, then: fileSource },
      ...kinds.map(kind => ({
        if: { required: ['format'], properties: { format: { const: kind.kind } } },
        then: { additionalProperties: false, required: ['connection', 'table'], properties: { format: true, connection: name, table: kind.tableSchema } }
      }))
    ]
  });
}

export function catalogSchema(kinds: readonly EngineKind[]) {
  return Type.Object(
    {
      datasets: Type.Array(
        Type.Object(
          {
            name: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*\\.[A-Za-z_][A-Za-z0-9_]*$' }),
            description: Type.Optional(Type.String()),
            owner: Type.Optional(Type.String()),
            tags: Type.Optional(tags),
            source: sourceSchema(kinds),
            order_by: Type.Optional(
              Type.Array(Type.String({ pattern: ORDER_KEY.source, description: 'a column name, optionally followed by ASC or DESC' }), { minItems: 1 })
            ),
            columns: Type.Optional(
              Type.Array(Type.Object({ name, description: Type.Optional(Type.String()), tags: Type.Optional(tags) }, { additionalProperties: false }))
            )
          },
          { additionalProperties: false }
        )
      )
    },
    { additionalProperties: false, title: 'Warden catalog file (catalog/*.yaml)' }
  );
}

export type CatalogYaml = Static<ReturnType<typeof catalogSchema>>;

// -- policies/*.yaml ----------------------------------------------------------------------

const principals = Type.Object(
  {
    everyone: Type.Optional(Type.Literal(true)),
    users: Type.Optional(names),
    groups: Type.Optional(names),
    attributes: Type.Optional(Type.Record(Type.String(), Type.Union([scalar, Type.Array(scalar, { minItems: 1 })]), { minProperties: 1 }))
  },
  { additionalProperties: false, minProperties: 1 }
);

const selector = Type.Object({ names: Type.Optional(names), tags: Type.Optional(names) }, { additionalProperties: false, minProperties: 1 });

/** Which keys each effect takes (besides name, description, datasets, principals, unless). */
const EFFECT_KEYS = {
  grant: [],
  deny: [],
  row_filter: ['filter'],
  column_mask: ['columns', 'mask'],
  cell_mask: ['columns', 'mask', 'when']
} as const;
const EFFECT_SPECIFIC = ['filter', 'when', 'columns', 'mask'];

export const EFFECTS = Object.keys(EFFECT_KEYS) as (keyof typeof EFFECT_KEYS)[];

export const policiesSchema = Type.Object(
  {
    policies: Type.Array(
      Type.Object(
        {
          name: Type.String({ pattern: '^[A-Za-z0-9_.:-]+$' }),
          description: Type.Optional(Type.String()),
          effect: oneOf(EFFECTS),
          datasets: selector,
          principals,
          unless: Type.Optional(principals),
          filter: Type.Optional(name),
          when: Type.Optional(name),
          columns: Type.Optional(selector),
          mask: Type.Optional(Type.Unsafe<MaskSpec>(maskJsonSchema()))
        },
        {
          additionalProperties: false,
          // Each effect requires its own keys and refuses the others'.
          allOf: EFFECTS.map(effect => {
            const keys: readonly string[] = EFFECT_KEYS[effect];
            const others = EFFECT_SPECIFIC.filter(key => !keys.includes(key));
            const takes = keys.length ? `takes ${keys.join(', ')} and none of ${others.join(', ')}` : `takes none of ${others.join(', ')}`;
            return {
              if: { required: ['effect'], properties: { effect: { const: effect } } },
              then: {
                ...(keys.length ? { required: keys } : {}),
                not: { anyOf: others.map(key => ({ required: [key] })) },
                description: `effect ${effect} ${takes}`
              }
            };
          })
        }
      )
    )
  },
  { additionalProperties: false, title: 'Warden policy file (policies/*.yaml)' }
);

export type PoliciesYaml = Static<typeof policiesSchema>;
