/**
 * `npm run demo-lake -- --out .demo --rows 2000 [--other-rows N]`: writes the demo lake and its
 * config. `--other-rows` sizes the datasets other than the main trial (default: scaled from
 * `--rows`), for benchmark lakes of 100,000,000 rows that need only the main one.
 * `--trino`: the trial datasets are read from the Trino cluster whose cluster.env is exported
 * (scripts/trino/cluster.sh; load the same rows with `tsx src/service/demo/trino-lake.ts --rows N`).
 */
import { parseArgs } from 'node:util';
import { generateDemo } from './generate';
import { trinoDemoConnectionFromEnv } from './trino-lake';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string', default: '.demo' }, rows: { type: 'string', default: '2000' }, 'other-rows': { type: 'string' }, trino: { type: 'boolean', default: false } }
  });
  const count = (option: string, text: string | undefined) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 10) {
      console.error(`--${option} must be a whole number >= 10, got "${text}"`);
      process.exit(2);
    }
    return value;
  };
  const rows = count('rows', values.rows);
  const otherRows = values['other-rows'] === undefined ? undefined : count('other-rows', values['other-rows']);
  const started = Date.now();
  const { configDir } = await generateDemo({ out: values.out!, rows, otherRows, trino: values.trino ? trinoDemoConnectionFromEnv() : undefined });
  console.log(`demo lake with ${rows} trial rows written in ${((Date.now() - started) / 1000).toFixed(1)} s; config: ${configDir}`);
}

void main();
