/**
 * Reloads that lower protections: a deny, row filter, column mask or cell mask removed, or
 * changed in a way that is not certainly at least as strict. Reported as one structured log
 * line, so that a change that drops protection by accident is seen at once.
 */
import { MaskSpec, restrictiveness } from '../../common/masks';
import { Expr } from '../policy/ast';
import { describeExpression } from '../policy/describe';
import { ColumnSelector, DatasetSelector, Policy, PrincipalSelector } from '../policy/types';
import { PROTECTIONS } from './targets';

export interface Weakening {
  policy: string;
  effect: Policy['effect'];
  /** Where the policy was defined before the reload. */
  file: string;
  line: number;
  changes: string[];
}

function includesAll(wider: readonly string[] | undefined, narrower: readonly string[] | undefined): boolean {
  return (narrower ?? []).every(item => (wider ?? []).includes(item));
}

/** Whether `after` selects at least what `before` did (names and tags compared as written). */
function selectsAtLeast(after: DatasetSelector | ColumnSelector, before: DatasetSelector | ColumnSelector): boolean {
  return includesAll(after.names, before.names) && includesAll(after.tags, before.tags);
}

function principalsAtLeast(after: PrincipalSelector, before: PrincipalSelector): boolean {
  return (
    (after.everyone === true || !before.everyone) &&
    includesAll(after.users, before.users) &&
    includesAll(after.groups, before.groups) &&
    JSON.stringify(after.attributes ?? {}) === JSON.stringify(before.attributes ?? {})
  );
}

/** Whether a mask is certainly at least as strict as another. */
export function maskAtLeast(after: MaskSpec, before: MaskSpec): boolean {
  if (restrictiveness(after) !== restrictiveness(before)) return restrictiveness(after) > restrictiveness(before);
  if (after.type !== before.type) return false;
  switch (after.type) {
    case 'show_first':
    case 'show_last':
      return after.n <= (before as typeof after).n;
    case 'round':
      return after.digits <= (before as typeof after).digits;
    case 'bucket':
      return after.width >= (before as typeof after).width;
    default:
      // The rest have no parameter that shows more (a redaction's text is only a label).
      return true;
  }
}

const sameExpression = (a: Expr, b: Expr) => describeExpression(a) === describeExpression(b);

function changesOf(before: Policy, after: Policy | undefined): string[] {
  if (!after) return ['removed'];
  if (after.effect !== before.effect) return [`effect changed to ${after.effect}`];
  const changes: string[] = [];
  if (!selectsAtLeast(after.datasets, before.datasets)) changes.push('selects fewer datasets');
  if (!principalsAtLeast(after.principals, before.principals)) changes.push('applies to fewer principals');
  if (after.unless && !(before.unless && principalsAtLeast(before.unless, after.unless))) changes.push('exempts more principals (unless)');
  if (before.effect === 'row_filter' && after.effect === 'row_filter' && !sameExpression(after.filter, before.filter)) {
    changes.push(`filter changed from "${describeExpression(before.filter)}" to "${describeExpression(after.filter)}"`);
  }
  if ((before.effect === 'column_mask' || before.effect === 'cell_mask') && (after.effect === 'column_mask' || after.effect === 'cell_mask')) {
    if (!selectsAtLeast(after.columns, before.columns)) changes.push('masks fewer columns');
    if (!maskAtLeast(after.mask, before.mask)) changes.push(`mask weakened from ${JSON.stringify(before.mask)} to ${JSON.stringify(after.mask)}`);
  }
  if (before.effect === 'cell_mask' && after.effect === 'cell_mask' && !sameExpression(after.when, before.when)) {
    changes.push(`condition changed from "${describeExpression(before.when)}" to "${describeExpression(after.when)}"`);
  }
  return changes;
}

/** The protections of `before` that `after` removes or may weaken, by policy name. */
export function weakenedProtections(before: readonly Policy[], after: readonly Policy[]): Weakening[] {
  const byName = new Map(after.map(policy => [policy.name, policy]));
  return before
    .filter(policy => PROTECTIONS.has(policy.effect))
    .map(policy => ({ policy: policy.name, effect: policy.effect, file: policy.origin.file, line: policy.origin.line, changes: changesOf(policy, byName.get(policy.name)) }))
    .filter(weakening => weakening.changes.length > 0);
}
