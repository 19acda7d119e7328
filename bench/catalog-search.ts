/**
 * Catalog search over 100,000 datasets with 1,000 policies, filtered to what the user may see.
 *   node bench/run.mjs catalog-search
 */
import { Catalog } from '../src/service/catalog/catalog';
import { EngineSelector, QueryEngine } from '../src/service/engine/engine';
import { datasetConfig, policies, principal } from './fixtures';
import { ms, table, timeSync } from './stats';

const DATASETS = 100_000;

async function main(): Promise<void> {
  const policySet = policies(1000);
  const configs = Array.from({ length: DATASETS }, (_, i) => datasetConfig(`db${i % 200}.table${i}`, 12, [`domain${i % 50}`]));
  // Sources are not read: every dataset here has the same 12 columns.
  const columns = configs[0].columns.map(column => ({ name: column.name, type: 'VARCHAR' }));
  const engine = { describe: async () => columns } as unknown as QueryEngine;
  const catalog = await Catalog.build(configs, { engineFor: () => engine } as EngineSelector);
  const rows: (string | number)[][] = [];
  const cold = performance.now();
  catalog.search(principal, policySet, {});
  const coldMs = performance.now() - cold;
  for (const [label, query] of [['list all', {}], ['text "table7"', { q: 'table7' }], ['text "nothing-matches"', { q: 'nothing-matches' }], ['tag', { tag: 'domain7' }]] as const) {
    let found = 0;
    const timing = timeSync(() => {
      found = catalog.search(principal, policySet, query).datasets.length;
    }, 200, 10);
    rows.push([label, DATASETS, found, ms(timing.median), ms(timing.p95), timing.p95 <= 10 ? 'met (<= 10 ms)' : 'MISSED (<= 10 ms)']);
  }
  console.log(`Catalog search over ${DATASETS.toLocaleString('en')} datasets and ${policySet.length} policies, filtered to what the user may see`);
  console.log(`first search for a principal (computes and caches their view): ${ms(coldMs)}`);
  console.log(table(['query', 'datasets', 'visible matches', 'median', 'p95', 'target'], rows));
}

void main();
