/** `npm run demo-lake -- --out .demo --rows 2000`: writes the demo lake and its config. */
import { parseArgs } from 'node:util';
import { generateDemo } from './generate';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: '.demo' }, rows: { type: 'string', default: '2000' } } });
  const rows = Number(values.rows);
  if (!Number.isInteger(rows) || rows < 10) {
    console.error(`--rows must be a whole number >= 10, got "${values.rows}"`);
    process.exit(2);
  }
  const started = Date.now();
  const { configDir } = await generateDemo({ out: values.out!, rows });
  console.log(`demo lake with ${rows} trial rows written in ${((Date.now() - started) / 1000).toFixed(1)} s; config: ${configDir}`);
}

void main();
