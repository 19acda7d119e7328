/**
 * The catalog's search decides only the datasets a grant selects, through indexes by name,
 * name prefix and tag, and shares one decision among datasets alike in policies and columns.
 * Whatever the estate, it must list exactly the datasets that deciding each dataset on its
 * own allows, with the same visible columns, tags and search text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DatasetSummary, MaskSpec, Principal } from '../../common/api';
import { Catalog } from '../catalog/catalog';
import { DatasetConfig } from '../config/types';
import { duckdbDialect } from '../engine/duckdb';
import { QueryEngine } from '../engine/engine';
import { decide } from '../policy/decide';
import { parseExpression } from '../policy/parse';
import { Policy, PrincipalSelector } from '../policy/types';

const origin = { file: 'catalog.test.ts', line: 1 };
// Upper case, `_`, `-` and a non-ASCII letter: names whose code-unit order differs from `localeCompare`'s;
// and a line break, which patterns match too.
const NAMES = ['sales.orders', 'sales.order_lines', 'sales.refunds', 'Sales.archive', 'hr.people', 'HR.people_2020', 'hr.payroll', 'ops.orders', 'ops.sites', 'ops-eu.sites', 'ops_eu.sites', 'x.y', 'x.y2', 'x.y\nz', 'é.z'];
const PATTERNS = ['sales.*', 'sales.order*', 'sales.order?lines', 'hr.p?ople', 'HR.*', '*.orders', '*', 'hr.payroll', 'ops*.sites', 'nothing.*', 's*s.*', 'x.y?', 'x.y*', '?r.*', 'ops_eu.sites', 'é.*'];
const TAGS = ['finance', 'pii', 'ops', 'PII-EU'];
const GROUPS = ['analysts', 'hr', 'ops'];
const USERS = ['ann', 'bo', 'cy'];
/** Columns with the types a dataset may give them: row filters and cell masks compare them with numbers and text. */
const COLUMN_TYPES: Record<string, string[]> = { id: ['BIGINT'], name: ['VARCHAR'], ssn: ['VARCHAR'], region: ['VARCHAR', 'INTEGER'], amount: ['BIGINT', 'VARCHAR'], Email: ['VARCHAR'] };
const COLUMNS = Object.keys(COLUMN_TYPES);
const COLUMN_TAGS: Record<string, string[]> = { ssn: ['pii'], Email: ['pii', 'PII-EU'], amount: ['finance'] };
// Greek capitals lower-case to a final sigma at the end of a word: the search text is lower-cased in parts.
const DESCRIPTIONS = ['', 'Orders of the Sales team', 'ΣΊΣΥΦΟΣ DATA'];
const ATTRIBUTES: Principal['attributes'][] = [{}, { region: 'EU' }, { region: 'US', level: 3 }, { region: ['EU', 'US'] }, { region: 7 }, { level: 4 }];

const option = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined });
const datasetSelector = fc
  .record({ names: option(fc.subarray(PATTERNS, { minLength: 1 })), tags: option(fc.subarray(TAGS, { minLength: 1 })) })
  .map(picked => (picked.names || picked.tags ? picked : { names: ['*'] }));
const principalSelector: fc.Arbitrary<PrincipalSelector> = fc.record(
  {
    everyone: fc.constant(true),
    users: fc.subarray(USERS, { minLength: 1 }),
    groups: fc.subarray(GROUPS, { minLength: 1 }),
    attributes: fc.constantFrom<PrincipalSelector['attributes']>({ region: 'EU' }, { region: ['EU', 'US'] }, { level: 3 }, { region: 'US', level: [3, 4] })
  },
  { requiredKeys: [] }
);
const columnSelector = fc
  .record({ names: option(fc.subarray([...COLUMNS, 's*', '*a*', 'Emai?'], { minLength: 1 })), tags: option(fc.subarray(TAGS, { minLength: 1 })) })
  .map(picked => (picked.names || picked.tags ? picked : { names: ['id'] }));
const expression = fc.constantFrom('region = user.region', 'amount > 50', "name = 'x' OR amount > 3", 'ssn IS NOT NULL', 'region IN user.region', 'amount > user.level');

const policy = fc
  .tuple(fc.constantFrom('grant', 'grant', 'deny', 'row_filter', 'column_mask', 'cell_mask'), datasetSelector, principalSelector, option(principalSelector), columnSelector, fc.constantFrom('hide', 'redact', 'null'), expression)
  .map(([effect, datasets, principals, unless, columns, mask, text]): Policy => {
    const base = { name: '', datasets, principals, ...(unless ? { unless } : {}), origin };
    switch (effect) {
      case 'grant':
      case 'deny':
        return { ...base, effect };
      case 'row_filter':
        // `user.region` is missing, a list or a number for some principals: such a filter refuses access.
        return { ...base, effect, filter: parseExpression(text) };
      case 'column_mask':
        return { ...base, effect, columns, mask: { type: mask } as MaskSpec };
      default:
        return { ...base, effect: 'cell_mask', columns, mask: { type: 'null' }, when: parseExpression(text) };
    }
  });

const principal: fc.Arbitrary<Principal> = fc.record({ user: fc.constantFrom(...USERS), groups: fc.subarray(GROUPS), attributes: fc.constantFrom(...ATTRIBUTES) });

const estate = fc.record({
  datasets: fc.uniqueArray(
    fc.record({
      name: fc.constantFrom(...NAMES),
      description: fc.constantFrom(...DESCRIPTIONS),
      tags: fc.subarray(TAGS),
      // Mostly a few shared layouts, so that datasets alike but for their types or tags meet.
      columns: fc.oneof(fc.constantFrom<string[]>(['id', 'region', 'amount'], ['id', 'name', 'ssn', 'region', 'amount', 'Email']), fc.subarray(COLUMNS, { minLength: 1 })),
      numbersAsText: fc.boolean(),
      regionTags: fc.subarray(['pii', 'ops'])
    }),
    { selector: dataset => dataset.name, minLength: 1 }
  ),
  policies: fc.array(policy, { maxLength: 14 }).map(list => list.map((entry, i): Policy => ({ ...entry, name: `p${i}` }))),
  principals: fc.array(principal, { minLength: 1, maxLength: 3 })
});

type Estate = typeof estate extends fc.Arbitrary<infer T> ? T : never;
type EstateDataset = Estate['datasets'][number];

function typeOf(dataset: EstateDataset, column: string): string {
  const types = COLUMN_TYPES[column];
  return types[dataset.numbersAsText ? types.length - 1 : 0];
}

function configOf(dataset: EstateDataset): DatasetConfig {
  const [database, table] = dataset.name.split('.');
  return {
    name: dataset.name,
    database,
    table,
    description: dataset.description,
    owner: 'owner',
    tags: dataset.tags,
    source: { format: 'parquet', path: dataset.name },
    columns: dataset.columns.map(name => ({ name, tags: name === 'region' ? dataset.regionTags : (COLUMN_TAGS[name] ?? []), description: '' })),
    orderBy: [],
    origin
  };
}

interface Expected {
  summary: DatasetSummary;
  tags: string[];
  text: string;
}

/** What search listed before it had indexes: a decision per dataset, the allowed ones by name, with the text they are searched by. */
function decideEvery(catalog: Catalog, configs: DatasetConfig[], principal: Principal, policies: Policy[]): Expected[] {
  return configs
    .map(config => ({ config, decision: decide(principal, catalog.get(config.name)!.facts, policies) }))
    .filter(({ decision }) => decision.allowed)
    .map(({ config, decision }) => {
      const hidden = new Set(decision.columns.filter(column => column.mask?.type === 'hide').map(column => column.name));
      const visible = config.columns.filter(column => !hidden.has(column.name));
      const { name, database, table, description, owner } = config;
      const summary = { name, database, table, description, owner, tags: config.tags, columnNames: visible.map(column => column.name), columnTags: [...new Set(visible.flatMap(column => column.tags))].sort() };
      const tags = [...new Set([...summary.tags, ...summary.columnTags])];
      return { summary, tags, text: [name, description, ...summary.columnNames, ...tags].join('\n').toLowerCase() };
    })
    .sort((a, b) => a.summary.name.localeCompare(b.summary.name));
}

const DATABASES = ['sales', 'Sales', 'hr', 'ops', 'nothing'];
const NEEDLES = ['orders', 'SALES', 'pii', 'pii-eu', 'email', 'σίσυφος', 'ς', 'data\nid', 'team\nname', 'é', 'people_2'];

test('search lists exactly the datasets a decision per dataset allows, with their visible columns, tags and search text', async () => {
  await fc.assert(
    fc.asyncProperty(estate, async ({ datasets, policies, principals }) => {
      const byName = new Map(datasets.map(dataset => [dataset.name, dataset]));
      const engine = {
        dialect: duckdbDialect,
        describe: async (source: { path: string }) => {
          const dataset = byName.get(source.path)!;
          return dataset.columns.map(name => ({ name, type: typeOf(dataset, name) }));
        }
      } as unknown as QueryEngine;
      const configs = datasets.map(configOf);
      const catalog = await Catalog.build(configs, { engineFor: () => engine });
      // Several principals on one catalog: the selectors' datasets, found once, serve them all.
      for (const who of principals) {
        const expected = decideEvery(catalog, configs, who, policies);
        const page = catalog.search(who, policies, {});
        assert.deepEqual(page.datasets, expected.map(entry => entry.summary));
        assert.deepEqual(page.tags, [...new Set(expected.flatMap(entry => entry.tags))].sort());
        for (const needle of NEEDLES) {
          const found = catalog.search(who, policies, { q: needle }).datasets.map(summary => summary.name);
          assert.deepEqual(found, expected.filter(entry => entry.text.includes(needle.toLowerCase())).map(entry => entry.summary.name), `q=${JSON.stringify(needle)}`);
        }
        for (const tag of TAGS) {
          const found = catalog.search(who, policies, { tag }).datasets.map(summary => summary.name);
          assert.deepEqual(found, expected.filter(entry => entry.tags.includes(tag)).map(entry => entry.summary.name), `tag=${tag}`);
        }
        // The tags offered are those of the database asked for, whatever the other filters.
        for (const database of DATABASES) {
          const inDatabase = expected.filter(entry => entry.summary.database === database);
          const found = catalog.search(who, policies, { database, q: 'o' });
          assert.deepEqual(found.datasets.map(summary => summary.name), inDatabase.filter(entry => entry.text.includes('o')).map(entry => entry.summary.name), `database=${database}`);
          assert.deepEqual(found.tags, [...new Set(inDatabase.flatMap(entry => entry.tags))].sort(), `database=${database}`);
        }
      }
    }),
    { numRuns: 400 }
  );
});

test('a dataset appears for the grants that select it by name, pattern or tag, and not past a deny, an unless or a filter it cannot apply', async () => {
  const configs = ['sales.orders', 'sales.refunds', 'hr.people', 'ops.sites'].map(name =>
    configOf({ name, description: '', tags: name === 'hr.people' ? ['pii'] : [], columns: ['id', 'region'], numbersAsText: false, regionTags: [] })
  );
  const engine = { dialect: duckdbDialect, describe: async () => [{ name: 'id', type: 'BIGINT' }, { name: 'region', type: 'VARCHAR' }] } as unknown as QueryEngine;
  const catalog = await Catalog.build(configs, { engineFor: () => engine });
  const policies: Policy[] = [
    { name: 'sales', effect: 'grant', datasets: { names: ['sales.*'] }, principals: { groups: ['analysts'] }, unless: { users: ['bo'] }, origin },
    { name: 'pii', effect: 'grant', datasets: { tags: ['pii'] }, principals: { attributes: { region: 'EU' } }, origin },
    { name: 'sites', effect: 'grant', datasets: { names: ['ops.sites'] }, principals: { everyone: true }, origin },
    { name: 'no-refunds', effect: 'deny', datasets: { names: ['sales.refunds'] }, principals: { attributes: { region: 'EU' } }, origin },
    { name: 'by-region', effect: 'row_filter', datasets: { names: ['ops.sites'] }, principals: { everyone: true }, filter: parseExpression('region = user.region'), origin }
  ];
  const names = (who: Principal) => catalog.search(who, policies, {}).datasets.map(summary => summary.name);
  assert.deepEqual(names({ user: 'ann', groups: ['analysts'], attributes: { region: 'US' } }), ['ops.sites', 'sales.orders', 'sales.refunds']);
  assert.deepEqual(names({ user: 'bo', groups: ['analysts'], attributes: { region: 'EU' } }), ['hr.people', 'ops.sites']);
  assert.deepEqual(names({ user: 'cy', groups: ['analysts'], attributes: { region: 'EU' } }), ['hr.people', 'ops.sites', 'sales.orders']);
  // A region given as a number cannot be compared with the text column: the filter refuses ops.sites.
  assert.deepEqual(names({ user: 'dee', groups: [], attributes: { region: 7 } }), []);
});
