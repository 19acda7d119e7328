/**
 * The masks, each declared once: its parameters (a TypeBox schema, from which the TypeScript
 * type comes too), the column types it applies to, the type it produces, how people read it
 * and how restrictive it is. Everything else derives from this list: `MaskSpec`, the `mask`
 * part of the policies JSON Schema (`maskJsonSchema`), the words and labels in the API and in
 * Arrow metadata. The SQL of a mask is written once per dialect
 * (`src/service/engine/<engine>/dialect.ts`), and the type checker holds each dialect to
 * this list. Adding a mask: see docs/engines.md.
 *
 * No DOM and no Node APIs here: the extension imports the types.
 */
import { type Static, type TLiteral, type TObject, type TProperties, Type } from '@sinclair/typebox';

/** Broad column type families: what masks apply to and what their SQL depends on. */
export type TypeFamily = 'text' | 'integer' | 'decimal' | 'float' | 'boolean' | 'date' | 'timestamp' | 'other';

/** The type a mask produces: the column's own, or one every dialect names (`Dialect.types`). */
export type MaskOutput = 'input' | 'text' | 'integer' | 'bigint' | 'double' | 'boolean';

/** What `redact` writes when the policy gives no value. */
export const DEFAULT_REDACTION = '***';

const NUMERIC: readonly TypeFamily[] = ['integer', 'decimal', 'float'];

type SpecOf<N extends string, P extends TProperties> = Static<TObject<{ type: TLiteral<N> } & P>>;

interface Declaration<N extends string, P extends TProperties> {
  /** Parameters besides `type`. */
  params: P;
  /** The families it applies to (absent: every column); elsewhere it becomes `redact` (fail closed). */
  appliesTo?: readonly TypeFamily[];
  output: MaskOutput | ((family: TypeFamily) => MaskOutput);
  /** Higher is more restrictive; when two column masks apply, the higher wins (a tie: the earlier policy). */
  rank: number;
  /** What it does, for people reading the docs (docs/configuration.md is generated from it). */
  summary: string;
  /** A policy's `mask` of this type, for the docs and the tests. */
  example: SpecOf<N, P>;
  /** Compact label for Arrow metadata and badges: `show_last(4)`. */
  label(mask: SpecOf<N, P>): string;
  /** In words, for people: `last 4 characters shown`. */
  describe(mask: SpecOf<N, P>): string;
}

export interface MaskDeclaration<N extends string = string, P extends TProperties = TProperties> extends Declaration<N, P> {
  name: N;
  /** The JSON Schema of a policy's `mask` of this type, `type` included. */
  schema: TObject<{ type: TLiteral<N> } & P>;
}

function declare<N extends string, P extends TProperties>(name: N, declaration: Declaration<N, P>): MaskDeclaration<N, P> {
  const properties = { type: Type.Literal(name), ...declaration.params } as { type: TLiteral<N> } & P;
  return { name, ...declaration, schema: Type.Object(properties, { additionalProperties: false }) };
}

/** Every mask, in the order they are listed to people. */
export const MASKS = {
  redact: declare('redact', {
    params: { value: Type.Optional(Type.String({ description: `the text written instead (default '${DEFAULT_REDACTION}')` })) },
    output: 'text',
    rank: 80,
    summary: 'the text `value` (default `***`), whatever the value',
    example: { type: 'redact', value: '[withheld]' },
    label: () => 'redact',
    describe: mask => `redacted as '${mask.value ?? DEFAULT_REDACTION}'`
  }),
  null: declare('null', {
    params: {},
    output: 'input',
    rank: 90,
    summary: "NULL, of the column's own type",
    example: { type: 'null' },
    label: () => 'null',
    describe: () => 'replaced by NULL'
  }),
  hash: declare('hash', {
    params: {},
    output: 'text',
    rank: 70,
    summary: 'hex SHA-256 of the value, keyed per dataset: not reversible with a dictionary, not joinable across datasets',
    example: { type: 'hash' },
    label: () => 'hash',
    describe: () => 'keyed SHA-256 hash (per dataset)'
  }),
  tokenize: declare('tokenize', {
    params: {},
    output: 'text',
    rank: 60,
    summary: '`tok_` + 16 hex digits of a keyed SHA-256, the same key everywhere: stable across datasets and engines, so joins still work',
    example: { type: 'tokenize' },
    label: () => 'tokenize',
    describe: () => 'deterministic token (joinable across datasets)'
  }),
  show_first: declare('show_first', {
    params: { n: Type.Integer({ minimum: 0, maximum: 1000, description: 'characters shown' }) },
    output: 'text',
    rank: 50,
    summary: 'the first `n` characters, the rest as `*`',
    example: { type: 'show_first', n: 3 },
    label: mask => `show_first(${mask.n})`,
    describe: mask => `first ${mask.n} characters shown`
  }),
  show_last: declare('show_last', {
    params: { n: Type.Integer({ minimum: 0, maximum: 1000, description: 'characters shown' }) },
    output: 'text',
    rank: 50,
    summary: 'the last `n` characters, the rest as `*`',
    example: { type: 'show_last', n: 4 },
    label: mask => `show_last(${mask.n})`,
    describe: mask => `last ${mask.n} characters shown`
  }),
  year_only: declare('year_only', {
    params: {},
    appliesTo: ['date', 'timestamp'],
    output: 'integer',
    rank: 50,
    summary: 'the year of a date or timestamp, as an integer',
    example: { type: 'year_only' },
    label: () => 'year_only',
    describe: () => 'year only'
  }),
  round: declare('round', {
    params: { digits: Type.Integer({ minimum: -18, maximum: 18, description: 'decimal places kept; negative rounds to tens, hundreds...' }) },
    appliesTo: NUMERIC,
    output: 'double',
    rank: 50,
    summary: 'the number rounded to `digits` decimals (negative: tens, hundreds...), as a double: `round(x * 10^digits) / 10^digits`, halves away from zero',
    example: { type: 'round', digits: -3 },
    label: mask => `round(${mask.digits})`,
    describe: mask => `rounded to ${mask.digits} decimal${mask.digits === 1 ? '' : 's'}`
  }),
  bucket: declare('bucket', {
    params: { width: Type.Number({ exclusiveMinimum: 0, description: 'bucket width' }) },
    appliesTo: NUMERIC,
    output: family => (family === 'integer' ? 'bigint' : 'double'),
    rank: 50,
    summary: 'the lower bound of the `width`-wide bucket holding the number',
    example: { type: 'bucket', width: 10 },
    label: mask => `bucket(${mask.width})`,
    describe: mask => `bucketed by ${mask.width}`
  }),
  email_domain: declare('email_domain', {
    params: {},
    output: 'text',
    rank: 50,
    summary: '`***@` and the domain of an email address',
    example: { type: 'email_domain' },
    label: () => 'email_domain',
    describe: () => 'email domain only'
  }),
  hide: declare('hide', {
    params: {},
    output: 'input',
    rank: 100,
    summary: 'the column is left out of the data; the caller is told it is hidden, never its values',
    example: { type: 'hide' },
    label: () => 'hide',
    describe: () => 'hidden'
  })
};

export type MaskType = keyof typeof MASKS;

/** How a mask transforms a value; `hide` drops the column altogether. */
export type MaskSpec = { [N in MaskType]: Static<(typeof MASKS)[N]['schema']> }[MaskType];

export const MASK_TYPES = Object.keys(MASKS) as MaskType[];

/** The declaration of a mask, typed for the mask it is given. */
export function maskDeclaration<M extends MaskSpec>(mask: M): MaskDeclaration<M['type']> & { label(mask: M): string; describe(mask: M): string } {
  // The union of declarations cannot be narrowed by the mask's type; `MASKS` pairs them by construction.
  return MASKS[mask.type] as unknown as MaskDeclaration<M['type']> & { label(mask: M): string; describe(mask: M): string };
}

export function describeMask(mask: MaskSpec): string {
  return maskDeclaration(mask).describe(mask);
}

/** Compact label for Arrow metadata and badges: `show_last(4)`. */
export function maskLabel(mask: MaskSpec): string {
  return maskDeclaration(mask).label(mask);
}

export function restrictiveness(mask: MaskSpec): number {
  return MASKS[mask.type].rank;
}

/** The more restrictive of two masks; on a tie the first one (the earlier policy) wins. */
export function moreRestrictive<T extends { mask: MaskSpec }>(a: T, b: T): T {
  return restrictiveness(b.mask) > restrictiveness(a.mask) ? b : a;
}

/** The mask that really applies to a column of `family`: one that cannot becomes `redact` (fail closed). */
export function applicableMask(mask: MaskSpec, family: TypeFamily): MaskSpec {
  const { appliesTo } = MASKS[mask.type];
  return !appliesTo || appliesTo.includes(family) ? mask : { type: 'redact' };
}

/** What a mask produces for a column of `family`. */
export function maskOutput(mask: MaskSpec, family: TypeFamily): MaskOutput {
  const { output } = MASKS[mask.type];
  return typeof output === 'function' ? output(family) : output;
}

/**
 * The JSON Schema of a policy's `mask`, generated from the declarations: `type` must name a
 * declared mask (an unknown one is reported with the list), and each type takes its own
 * parameters and no others.
 */
export function maskJsonSchema(): object {
  const declarations = Object.values(MASKS) as MaskDeclaration[];
  return {
    type: 'object',
    required: ['type'],
    properties: { type: { enum: declarations.map(declaration => declaration.name) } },
    allOf: declarations.map(declaration => ({
      if: { properties: { type: { const: declaration.name } } },
      then: declaration.schema
    }))
  };
}
