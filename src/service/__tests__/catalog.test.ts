/**
 * The catalog's search decides only the datasets a grant selects, and shares one decision
 * among datasets alike in policies and columns. Whatever the estate, it must list exactly the
 * datasets that deciding each dataset on its own allows, with the same visible columns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Principal } from '../../common/api';
import { Catalog } from '../catalog/catalog';
import { DatasetConfig } from '../config/types';
import { duckdbDialect } from '../engine/duckdb';
import { QueryEngine } from '../engine/engine';
import { decide } from '../policy/decide';
import { parseExpression } from '../policy/parse';
import { Policy } from '../policy/types';

const origin = { file: 'catalog.test.ts', line: 1 };
const NAMES = ['sales.orders', 'sales.order_lines', 'sales.refunds', 'hr.people', 'hr.payroll', 'ops.orders', 'ops.sites', 'x.y'];
const PATTERNS = ['sales.*', 'sales.order*', 'hr.p?ople', '*.orders', '*', 'hr.payroll', 'nothing.*', 's*s.*'];
const TAGS = ['finance', 'pii', 'ops'];
const COLUMNS = ['id', 'name', 'ssn', 'region', 'amount'];
const GROUPS = ['analysts', 'hr', 'ops'];

const selector = fc.record({ names: fc.option(fc.subarray(PATTERNS, { minLength: 1 }), { nil: undefined }), tags: fc.option(fc.subarray(TAGS, { minLength: 1 }), { nil: undefined }) }).map(picked =>
  picked.names || picked.tags ? picked : { names: ['*'] }
);
const principals = fc.oneof(fc.constant({ everyone: true as const }), fc.subarray(GROUPS, { minLength: 1 }).map(groups => ({ groups })), fc.constant({ attributes: { region: 'EU' } }));

const policy = fc
  .tuple(fc.constantFrom('grant', 'deny', 'row_filter', 'column_mask', 'cell_mask'), selector, principals, fc.subarray(COLUMNS, { minLength: 1 }), fc.boolean(), fc.nat(100))
  .map(([effect, datasets, who, columns, hide, amount]): Policy => {
    const base = { name: '', datasets, principals: who, origin };
    switch (effect) {
      case 'grant':
      case 'deny':
        return { ...base, effect };
      case 'row_filter':
        // `user.region` is missing for principals without it: such a filter refuses access.
        return { ...base, effect, filter: parseExpression(hide ? 'region = user.region' : `amount > ${amount}`) };
      case 'column_mask':
        return { ...base, effect, columns: { names: columns }, mask: hide ? { type: 'hide' } : { type: 'redact' } };
      default:
        return { ...base, effect: 'cell_mask', columns: { names: columns }, mask: { type: 'null' }, when: parseExpression('ssn IS NOT NULL') };
    }
  });

const estate = fc.record({
  datasets: fc.uniqueArray(
    fc.record({ name: fc.constantFrom(...NAMES), tags: fc.subarray(TAGS), columns: fc.subarray(COLUMNS, { minLength: 1 }) }),
    { selector: dataset => dataset.name, minLength: 1 }
  ),
  policies: fc.array(policy, { maxLength: 12 }).map(list => list.map((entry, i): Policy => ({ ...entry, name: `p${i}` }))),
  principal: fc.record({ user: fc.constantFrom('ann', 'bo'), groups: fc.subarray(GROUPS), attributes: fc.constantFrom({}, { region: 'EU' }) })
});

function configOf(dataset: { name: string; tags: string[]; columns: string[] }): DatasetConfig {
  const [database, table] = dataset.name.split('.');
  return {
    name: dataset.name,
    database,
    table,
    description: '',
    owner: '',
    tags: dataset.tags,
    source: { format: 'parquet', path: '/dev/null' },
    columns: dataset.columns.map(name => ({ name, tags: name === 'ssn' ? ['pii'] : [], description: '' })),
    orderBy: [],
    origin
  };
}

test('search lists exactly the datasets a decision per dataset allows, with their visible columns', async () => {
  await fc.assert(
    fc.asyncProperty(estate, async ({ datasets, policies, principal }) => {
      const byName = new Map(datasets.map(dataset => [dataset.name, dataset]));
      const engine = { dialect: duckdbDialect, describe: async (source: { path: string }) => byName.get(source.path)!.columns.map(name => ({ name, type: 'VARCHAR' })) } as unknown as QueryEngine;
      const configs = datasets.map(configOf).map(config => ({ ...config, source: { format: 'parquet' as const, path: config.name } }));
      const catalog = await Catalog.build(configs, { engineFor: () => engine });
      const expected = configs
        .map(config => ({ config, decision: decide(principal as Principal, catalog.get(config.name)!.facts, policies) }))
        .filter(({ decision }) => decision.allowed)
        .map(({ config, decision }) => {
          const hidden = new Set(decision.columns.filter(column => column.mask?.type === 'hide').map(column => column.name));
          return { name: config.name, columnNames: config.columns.map(column => column.name).filter(name => !hidden.has(name)) };
        })
        .sort((a, b) => a.name.localeCompare(b.name));
      const found = catalog.search(principal as Principal, policies, {}).datasets.map(({ name, columnNames }) => ({ name, columnNames }));
      assert.deepEqual(found, expected);
    }),
    { numRuns: 400 }
  );
});
