/**
 * Protections aimed at nothing, refused when the policies load: a deny, row filter, column
 * mask or cell mask naming a dataset (exactly, not by pattern) that the catalog does not
 * have, and a row filter, cell-mask condition or principal selector reading a user attribute
 * that no user of the directory has. Both are typos that leave what they were written to
 * protect unprotected (or, for `user.*` in a filter, every row withheld from everyone).
 * Patterns and tags that match nothing are allowed: datasets come and go.
 */
import { Expr } from '../policy/ast';

/** What a policy may aim at. `attributes` is undefined when token claims may bring any attribute. */
export interface KnownTargets {
  datasets: ReadonlySet<string>;
  attributes?: ReadonlySet<string>;
}

/** Attributes every principal has (policy/bind.ts). */
const BUILT_IN_ATTRIBUTES = ['name', 'groups'];

/** The effects that withhold something (a grant gives). */
export const PROTECTIONS: ReadonlySet<string> = new Set(['deny', 'row_filter', 'column_mask', 'cell_mask']);

export const isPattern = (name: string) => /[*?]/.test(name);

/** Edit distance, giving up (returning `limit + 1`) once it exceeds `limit`. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    if (Math.min(...current) > limit) return limit + 1;
    previous = current;
  }
  return previous[b.length];
}

/** The known name closest to `name`, if one is close enough to be what was meant. */
export function closest(name: string, known: Iterable<string>): string | undefined {
  const limit = Math.max(2, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const candidateDistance = distance(name.toLowerCase(), candidate.toLowerCase(), Math.min(limit, bestDistance));
    if (candidateDistance < bestDistance) [best, bestDistance] = [candidate, candidateDistance];
  }
  return best;
}

const didYouMean = (name: string, known: Iterable<string>, prefix = '') => {
  const suggestion = closest(name, known);
  return suggestion === undefined ? '' : ` (did you mean ${prefix}${suggestion}?)`;
};

/** The problem with a dataset name of a protection's `datasets.names`, if any. */
export function unknownDataset(name: string, known: KnownTargets): string | undefined {
  if (isPattern(name) || known.datasets.has(name)) return undefined;
  return `"${name}" is not a dataset of the catalog${didYouMean(name, known.datasets)}: a protection aimed at it protects nothing (name datasets that will come by pattern or tag)`;
}

/** The attributes read by an expression (`user.x`). */
export function attributesOf(expr: Expr, into: Set<string> = new Set()): Set<string> {
  switch (expr.kind) {
    case 'user':
      into.add(expr.attribute);
      break;
    case 'compare':
    case 'and':
    case 'or':
      attributesOf(expr.left, into);
      attributesOf(expr.right, into);
      break;
    case 'in':
      attributesOf(expr.operand, into);
      expr.list.forEach(item => attributesOf(item, into));
      break;
    case 'like':
      attributesOf(expr.operand, into);
      attributesOf(expr.pattern, into);
      break;
    case 'is_null':
    case 'not':
      attributesOf(expr.operand, into);
      break;
  }
  return into;
}

/** The problem with a user attribute a policy reads, if any; `consequence` says what the typo would do. */
export function unknownAttribute(attribute: string, known: KnownTargets, consequence: string): string | undefined {
  if (!known.attributes || BUILT_IN_ATTRIBUTES.includes(attribute) || known.attributes.has(attribute)) return undefined;
  const names = [...BUILT_IN_ATTRIBUTES, ...known.attributes];
  return `user.${attribute} is an attribute no user in directory.yaml has${didYouMean(attribute, names, 'user.')}: ${consequence}`;
}
