/**
 * Policy decision plus SQL compilation with 1,000 policies, as the column count grows from 10 to 1,000.
 *   npx tsx bench/decision.ts
 */
import { compileScan } from '../src/service/engine/compile';
import { duckdbDialect } from '../src/service/engine/duckdb';
import { decide } from '../src/service/policy/decide';
import { catalogDataset, datasetConfig, policies, principal } from './fixtures';
import { ms, table, timeSync } from './stats';

const policySet = policies(1000);
const decisionRows: (string | number)[][] = [];
for (const columnCount of [10, 100, 1000]) {
  const dataset = catalogDataset(datasetConfig('db7.table7', columnCount, ['domain7']));
  const timing = timeSync(() => {
    const decision = decide(principal, dataset.facts, policySet);
    return compileScan(decision, dataset.columns, { limit: 100 }, duckdbDialect, { hash: 'h', token: 't' }, params => `read_parquet(${params.add('/x')})`);
  }, 2000);
  decisionRows.push([columnCount, policySet.length, ms(timing.median), ms(timing.p95), timing.p95 <= 1 ? 'met (<= 1 ms)' : 'MISSED (<= 1 ms)']);
}
console.log('Policy decision + SQL compilation (1,001 policies)');
console.log(table(['columns', 'policies', 'median', 'p95', 'target'], decisionRows));

