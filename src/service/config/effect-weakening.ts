/**
 * Reloads that lower what a principal is protected from, whatever file did it: a policy, a
 * catalog entry (a tag taken off a column) or the directory (a user put in an exempt group).
 * Each user of the directory is decided on each dataset before and after the reload
 * (policy/decide.ts), and every row filter, column mask, cell mask or deny that no longer
 * holds as strictly is reported. Only the pairs whose inputs changed are decided, at most
 * MAX_COMPARED_PAIRS of them: a catalog of 100,000 datasets reloads in bounded time.
 */
import { MaskSpec, Principal } from '../../common/api';
import { describeMask } from '../../common/masks';
import { readsUser } from '../policy/ast';
import { DatasetFacts, Decision, datasetMatches, decide, policyAppliesTo } from '../policy/decide';
import { describeExpression } from '../policy/describe';
import { Policy } from '../policy/types';
import { DirectoryEntry } from './types';
import { maskAtLeast } from './weakening';

export type FileKind = 'catalog' | 'directory' | 'policies';

export interface EffectWeakening {
  user: string;
  dataset: string;
  /** Absent for what concerns the whole dataset: its row filters, a deny. */
  column?: string;
  before: string;
  after: string;
  /** The kinds of file whose change reached this user and dataset. */
  changed: FileKind[];
}

export interface EffectComparison {
  /** At most MAX_LISTED, in user then dataset order. */
  weakened: EffectWeakening[];
  /** Weakenings found beyond those listed. */
  more: number;
  /** (user, dataset) pairs whose inputs changed and that were decided again. */
  compared: number;
  /** (user, dataset) pairs whose inputs changed but that were not decided, beyond MAX_COMPARED_PAIRS. */
  notCompared: number;
}

/** The inputs of a decision, on one side of the reload. */
export interface DecisionInputs {
  policies: readonly Policy[];
  datasets: readonly DatasetFacts[];
  directory: ReadonlyMap<string, DirectoryEntry>;
}

export const MAX_COMPARED_PAIRS = 20_000;
const MAX_LISTED = 50;

const withoutOrigin = (policy: Policy) => JSON.stringify({ ...policy, origin: undefined });
const principalOf = (user: string, entry: DirectoryEntry): Principal => ({ user, groups: entry.groups, attributes: entry.attributes });
const conditionOf = (policy: Policy) => (policy.effect === 'row_filter' ? policy.filter : policy.effect === 'cell_mask' ? policy.when : undefined);

/** Policies by name whose text differs between the sides (added and removed ones included): [before, after]. */
function changedPolicies(before: readonly Policy[], after: readonly Policy[]): [Policy | undefined, Policy | undefined][] {
  const afterByName = new Map(after.map(policy => [policy.name, policy]));
  const beforeNames = new Set(before.map(policy => policy.name));
  return [
    ...before.map(policy => [policy, afterByName.get(policy.name)] as [Policy, Policy | undefined]).filter(([old, next]) => !next || withoutOrigin(old) !== withoutOrigin(next)),
    ...after.filter(policy => !beforeNames.has(policy.name)).map(policy => [undefined, policy] as [undefined, Policy])
  ];
}

function describeFilters(decision: Decision): string {
  return decision.rowFilters.length ? decision.rowFilters.map(filter => `${describeExpression(filter.expr)} (${filter.policy})`).join(' AND ') : 'no row filter';
}

function describeColumn(mask: MaskSpec | undefined, cells: Decision['columns'][number]['cellMasks']): string {
  const parts = [mask ? describeMask(mask) : 'clear', ...cells.map(cell => `${describeMask(cell.mask)} where ${describeExpression(cell.when)} (${cell.policy})`)];
  return parts.join('; ');
}

/** What `after` gives of a dataset that `before` withheld, as [column, before, after]. */
function loosened(before: Decision, after: Decision): [string | undefined, string, string][] {
  if (!before.allowed) {
    // Access given by a grant is not a protection weakened; access a deny (or a policy that could not be applied) withheld is.
    return after.allowed && before.denial !== 'no grant matches' ? [[undefined, `denied (${before.denial})`, 'allowed']] : [];
  }
  if (!after.allowed) return [];
  const found: [string | undefined, string, string][] = [];
  const afterFilters = new Set(after.rowFilters.map(filter => describeExpression(filter.expr)));
  if (before.rowFilters.some(filter => !afterFilters.has(describeExpression(filter.expr)))) {
    found.push([undefined, describeFilters(before), describeFilters(after)]);
  }
  const afterColumns = new Map(after.columns.map(column => [column.name, column]));
  for (const old of before.columns) {
    const next = afterColumns.get(old.name);
    // A column gone from the dataset is not released.
    if (!next) continue;
    const maskHolds = !old.mask || (next.mask !== undefined && maskAtLeast(next.mask, old.mask));
    const cellsHold = old.cellMasks.every(
      cell =>
        (next.mask !== undefined && maskAtLeast(next.mask, cell.mask)) ||
        next.cellMasks.some(candidate => describeExpression(candidate.when) === describeExpression(cell.when) && maskAtLeast(candidate.mask, cell.mask))
    );
    if (!maskHolds || !cellsHold) found.push([old.name, describeColumn(old.mask, old.cellMasks), describeColumn(next.mask, next.cellMasks)]);
  }
  return found;
}

/** Whether a policy may decide differently for a principal whose directory entry changed. */
function reachesChangedPrincipal(policy: Policy, before: Principal, after: Principal): boolean {
  const appliesBefore = policyAppliesTo(policy, before);
  const appliesAfter = policyAppliesTo(policy, after);
  const condition = conditionOf(policy);
  return appliesBefore !== appliesAfter || ((appliesBefore || appliesAfter) && condition !== undefined && readsUser(condition));
}

/** The weakenings of protection from `before` to `after`, for the users of both directories. */
export function weakenedEffects(before: DecisionInputs, after: DecisionInputs): EffectComparison {
  const beforeFacts = new Map(before.datasets.map(facts => [facts.name, facts]));
  // Only datasets on both sides: a new dataset withholds nothing yet, a removed one releases nothing.
  const datasets = after.datasets.filter(facts => beforeFacts.has(facts.name));
  const changedDatasets = new Set(datasets.filter(facts => JSON.stringify(facts) !== JSON.stringify(beforeFacts.get(facts.name))).map(facts => facts.name));
  const policyChanges = changedPolicies(before.policies, after.policies);

  // Datasets each policy version selects, computed once per version.
  const selections = new Map<Policy, Set<string>>();
  const selects = (policy: Policy): Set<string> => {
    let selected = selections.get(policy);
    if (!selected) {
      selected = new Set([...datasets, ...datasets.map(facts => beforeFacts.get(facts.name)!)].filter(facts => datasetMatches(policy.datasets, facts)).map(facts => facts.name));
      selections.set(policy, selected);
    }
    return selected;
  };
  const changedPolicyDatasets = new Set(policyChanges.flatMap(versions => versions.flatMap(policy => (policy ? [...selects(policy)] : []))));

  const weakened: EffectWeakening[] = [];
  let found = 0;
  let compared = 0;
  let notCompared = 0;
  const allPolicies = [...before.policies, ...after.policies];
  for (const [user, afterEntry] of after.directory) {
    const beforeEntry = before.directory.get(user);
    if (!beforeEntry) continue;
    const [principalBefore, principalAfter] = [principalOf(user, beforeEntry), principalOf(user, afterEntry)];
    const userChanged = JSON.stringify(beforeEntry) !== JSON.stringify(afterEntry);
    const reaching = [
      ...policyChanges.flatMap(versions => versions.filter((policy): policy is Policy => !!policy && (policyAppliesTo(policy, principalBefore) || policyAppliesTo(policy, principalAfter)))),
      ...(userChanged ? allPolicies.filter(policy => reachesChangedPrincipal(policy, principalBefore, principalAfter)) : [])
    ];
    const toCompare = new Set(changedDatasets);
    for (const policy of reaching) selects(policy).forEach(name => toCompare.add(name));
    for (const facts of datasets) {
      if (!toCompare.has(facts.name)) continue;
      if (compared >= MAX_COMPARED_PAIRS) {
        notCompared++;
        continue;
      }
      compared++;
      const changes = loosened(decide(principalBefore, beforeFacts.get(facts.name)!, before.policies), decide(principalAfter, facts, after.policies));
      if (changes.length === 0) continue;
      const changed: FileKind[] = [
        ...(changedDatasets.has(facts.name) ? ['catalog' as const] : []),
        ...(userChanged ? ['directory' as const] : []),
        ...(changedPolicyDatasets.has(facts.name) ? ['policies' as const] : [])
      ];
      for (const [column, was, now] of changes) {
        found++;
        if (weakened.length < MAX_LISTED) weakened.push({ user, dataset: facts.name, ...(column === undefined ? {} : { column }), before: was, after: now, changed });
      }
    }
  }
  return { weakened, more: found - weakened.length, compared, notCompared };
}
