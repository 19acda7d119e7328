/** Shared fixtures for the policy benchmarks: a large estate of policies and wide datasets. */
import { Principal } from '../src/common/api';
import { CatalogDataset } from '../src/service/catalog/catalog';
import { DatasetConfig } from '../src/service/config/types';
import { Policy } from '../src/service/policy/types';
import { parseExpression } from '../src/service/policy/parse';

export const origin = { file: 'bench', line: 0 };
export const principal: Principal = { user: 'alice', groups: ['analysts', 'team-7'], attributes: { region: 'US' } };

/** 1,000 policies of every kind, most of them about other datasets, as in a large estate. */
export function policies(count: number): Policy[] {
  const result: Policy[] = [];
  for (let i = 0; i < count; i++) {
    // One policy in seven (of every kind) concerns the benchmarked dataset (db7.*) and its user's group.
    const ours = i % 7 === 0;
    const datasets = ours ? { names: ['db7.*'] } : i % 3 === 0 ? { tags: [`domain${i % 50}`] } : { names: [`db${i % 200}.*`] };
    const principals = ours ? { groups: ['analysts'] } : i % 2 === 0 ? { groups: [`team-${i % 40}`] } : { users: [`user${i}`] };
    switch (i % 5) {
      case 0:
        result.push({ name: `grant-${i}`, effect: 'grant', datasets, principals, origin });
        break;
      case 1:
        result.push({ name: `deny-${i}`, effect: 'deny', datasets, principals: { users: [`nobody${i}`] }, origin });
        break;
      case 2:
        result.push({ name: `filter-${i}`, effect: 'row_filter', datasets, principals, filter: parseExpression(`c1 = user.region AND c2 > ${i}`), origin });
        break;
      case 3:
        result.push({ name: `mask-${i}`, effect: 'column_mask', datasets, principals, columns: { tags: [`pii${i % 10}`], names: [`c${i % 30}`] }, mask: { type: i % 2 ? 'hash' : 'show_last', n: 4 } as never, origin });
        break;
      default:
        result.push({ name: `cell-${i}`, effect: 'cell_mask', datasets, principals, columns: { names: [`c${i % 20}`] }, mask: { type: 'redact' }, when: parseExpression(`c3 = 'x${i}'`), origin });
    }
  }
  result.push({ name: 'grant-bench', effect: 'grant', datasets: { names: ['db7.*'] }, principals: { groups: ['analysts'] }, origin });
  return result;
}

export function datasetConfig(name: string, columns: number, tags: string[]): DatasetConfig {
  const [database, table] = name.split('.');
  return {
    name,
    database,
    table,
    description: `Dataset ${name} about things`,
    owner: 'bench',
    tags,
    source: { format: 'parquet', path: '/dev/null' },
    columns: Array.from({ length: columns }, (_, c) => ({ name: `c${c}`, tags: c % 7 === 0 ? [`pii${c % 10}`] : [], description: '' })),
    orderBy: [],
    origin
  };
}

/** The engine type of a fixture column: the row filters compare c2 with numbers, the rest with text. */
export function columnType(name: string): string {
  return name === 'c2' ? 'BIGINT' : 'VARCHAR';
}

export function catalogDataset(config: DatasetConfig): CatalogDataset {
  const columns = config.columns.map(column => ({ name: column.name, type: columnType(column.name), tags: column.tags, description: column.description }));
  return { config, columns, facts: { name: config.name, tags: config.tags, columns: columns.map(({ name, tags }) => ({ name, tags })) } } as CatalogDataset;
}

