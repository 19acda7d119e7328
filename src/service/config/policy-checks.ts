/**
 * Policies checked against the datasets they select, once the sources' schemas are read
 * (docs/configuration.md, "Columns a policy names" and "Types in policies").
 *
 * Columns:
 * - a row filter or a cell-mask condition must only read columns that every dataset it
 *   selects has: applied without them it would release what it was written to withhold, and
 *   refusing the dataset at each request looks to its users as if it did not exist;
 * - a mask's column name (not a pattern) must name a column of some dataset it selects, and
 *   of every dataset it selects by exact name: otherwise it is a typo that leaves the column
 *   it meant in clear. A mask selecting datasets by tag or pattern simply does not apply to
 *   those of them that lack the column (there is nothing to mask).
 *
 * Types (policy/typecheck.ts): a column is compared only with values of its own kind, here with
 * `user.*` attributes as the directory gives them.
 */
import { columnsOf } from '../policy/ast';
import { DatasetFacts, datasetMatches, policyAppliesTo } from '../policy/decide';
import { typeProblem, typedColumn } from '../policy/typecheck';
import { Policy } from '../policy/types';
import { isPattern } from './targets';
import { DirectoryEntry } from './types';
import { ConfigError } from './yaml-file';

function listed(names: string[]): string {
  return names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
}

/** How a policy selects a dataset, for messages: by exact name, else by pattern or tag. */
function selectedBy(policy: Policy, dataset: DatasetFacts): string {
  if (policy.datasets.names?.includes(dataset.name)) return 'by name';
  const tag = policy.datasets.tags?.find(candidate => dataset.tags.includes(candidate));
  return tag ? `by tag ${tag}` : `by pattern ${policy.datasets.names?.find(name => isPattern(name)) ?? ''}`.trim();
}

export function checkPolicies(policies: readonly Policy[], datasets: readonly DatasetFacts[], directory: ReadonlyMap<string, DirectoryEntry>): void {
  for (const policy of policies) {
    const selected = datasets.filter(dataset => datasetMatches(policy.datasets, dataset));
    if (selected.length === 0) continue;
    const fail = (problem: string): never => {
      throw new ConfigError(policy.origin.file, policy.origin.line, `policy ${policy.name}: ${problem}`);
    };
    const condition = policy.effect === 'row_filter' ? policy.filter : policy.effect === 'cell_mask' ? policy.when : undefined;
    for (const column of condition ? columnsOf(condition) : []) {
      const lacking = selected.filter(dataset => !dataset.columns.some(candidate => candidate.name === column));
      if (lacking.length) {
        fail(
          `${policy.effect === 'row_filter' ? 'filter' : 'when'} reads column "${column}", which ${listed(lacking.map(d => `${d.name} (selected ${selectedBy(policy, d)})`))} ` +
            `${lacking.length > 1 ? 'do' : 'does'} not have: fix the column name, or narrow the policy's datasets to those that have it`
        );
      }
    }
    if (policy.effect !== 'column_mask' && policy.effect !== 'cell_mask') continue;
    for (const column of (policy.columns.names ?? []).filter(name => !isPattern(name))) {
      const having = selected.filter(dataset => dataset.columns.some(candidate => candidate.name === column));
      if (having.length === 0) {
        fail(`masks column "${column}", which none of the datasets it selects has (${listed(selected.map(d => d.name))}): fix the column name`);
      }
      const namedWithout = selected.filter(dataset => policy.datasets.names?.includes(dataset.name) && !having.includes(dataset));
      if (namedWithout.length) {
        fail(`masks column "${column}", which ${listed(namedWithout.map(d => d.name))} (selected by name) ${namedWithout.length > 1 ? 'do' : 'does'} not have: fix the column name`);
      }
    }
  }
  for (const policy of policies) {
    const condition = policy.effect === 'row_filter' ? policy.filter : policy.effect === 'cell_mask' ? policy.when : undefined;
    if (!condition) continue;
    // The attributes that matter are those of the users the policy applies to.
    const users = [...directory].filter(([user, entry]) => policyAppliesTo(policy, { user, ...entry })).map(([user, entry]) => [user, entry.attributes] as const);
    for (const dataset of datasets.filter(candidate => datasetMatches(policy.datasets, candidate))) {
      const column = (name: string) => typedColumn(dataset.columns.find(candidate => candidate.name === name));
      const problem = typeProblem(condition, { column, where: ` in ${dataset.name}`, users, usersFrom: ' in directory.yaml' });
      if (problem) {
        throw new ConfigError(policy.origin.file, policy.origin.line, `policy ${policy.name}: ${policy.effect === 'row_filter' ? 'filter' : 'when'} ${problem}`);
      }
    }
  }
}
