/**
 * What differs between SQL engines: the SQL of each mask, type names, and how literals are
 * bound. Every dialect produces the same masked values for the same input (same keyed
 * SHA-256, same tokens, same rounding), so tokenized columns join across engines;
 * docs/engines.md lists the few inputs that still render differently.
 */
import { MaskSpec, MaskType, TypeFamily, maskOutput } from '../../common/masks';
import { Params, SqlValue } from './sql';

export interface MaskKeys {
  /** Keys `hash`: mixed with the dataset name, so hashes do not join across datasets. */
  hash: string;
  /** Keys `tokenize`: the same everywhere, so tokens join across datasets and engines. */
  token: string;
}

/** What the SQL of a mask is built from. */
export interface MaskInput {
  /** SQL of the value: the raw column, quoted. */
  value: string;
  /** SQL of the value as text, rendered alike on every engine (`Dialect.toText`). */
  text: string;
  engineType: string;
  family: TypeFamily;
  keys: MaskKeys;
  params: Params;
}

/** The SQL of every declared mask (common/masks.ts): a dialect lacking one does not compile. */
export type MaskSql = { [N in MaskType]: (mask: Extract<MaskSpec, { type: N }>, input: MaskInput) => string };

export interface Dialect {
  readonly name: string;
  familyOf(engineType: string): TypeFamily;
  readonly masks: MaskSql;
  /** SQL rendering `value` (of type `engineType`) as text the same way on every engine. */
  toText(value: string, engineType: string): string;
  /** SQL for a literal of an expression (a bound parameter, typed where the engine needs it). */
  literal(value: Exclude<SqlValue, null | boolean>, params: Params): string;
  /** Names of the types masks (and mask indicators) produce. */
  readonly types: { text: string; integer: string; bigint: string; double: string; boolean: string };
}

/** SQL for `mask` applied to the SQL expression `value` of type `engineType`. */
export function maskSql(
  dialect: Dialect,
  mask: MaskSpec,
  value: string,
  engineType: string,
  keys: MaskKeys,
  params: Params,
  family = dialect.familyOf(engineType)
): string {
  // MaskSql pairs each mask type with its builder; the union of builders cannot be narrowed by `mask.type`.
  const build = dialect.masks[mask.type] as (mask: MaskSpec, input: MaskInput) => string;
  return build(mask, { value, text: dialect.toText(value, engineType), engineType, family, keys, params });
}

/** The engine type a mask produces from a column of `engineType`: the same rule in every dialect. */
export function maskedType(dialect: Dialect, mask: MaskSpec, engineType: string, family = dialect.familyOf(engineType)): string {
  const output = maskOutput(mask, family);
  return output === 'input' ? engineType : dialect.types[output];
}
