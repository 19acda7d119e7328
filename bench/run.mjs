// Runs a benchmark as production runs the service: bundled by esbuild (no tsx wrappers), then node.
//   node bench/run.mjs decision | catalog-search | ...
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [name, ...args] = process.argv.slice(2);
if (!name) {
  console.error('usage: node bench/run.mjs <benchmark> [args...]');
  process.exit(2);
}
const outdir = join(here, '..', 'node_modules', '.cache', 'warden-bench');
mkdirSync(outdir, { recursive: true });
const outfile = join(outdir, `${name}.cjs`);
await build({
  entryPoints: [join(here, `${name}.ts`)],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['@duckdb/node-api', '@duckdb/node-bindings', '@duckdb/node-bindings-*', 'pg', 'pg-cursor'],
  logLevel: 'warning'
});
const result = spawnSync(process.execPath, ['--expose-gc', outfile, ...args], { stdio: 'inherit', cwd: join(here, '..') });
process.exit(result.status ?? 1);
