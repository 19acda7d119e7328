// Bundles the enforcement service into warden/service/warden-service.cjs, with DuckDB's
// native binding and Warden's DuckDB-to-Arrow addon (scripts/build-native.mjs) copied beside
// it, so the Python wheel ships a service that needs only Node.
import { build } from 'esbuild';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ADDON_FILE, buildNative } from './build-native.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'warden', 'service');
const require = createRequire(import.meta.url);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(root, 'src/service/main.ts')],
  outfile: join(out, 'warden-service.cjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Native code cannot be bundled: it is copied below and resolved from warden/service/node_modules.
  external: ['@duckdb/node-api', '@duckdb/node-bindings', '@duckdb/node-bindings-*'],
  banner: { js: '#!/usr/bin/env node' },
  sourcemap: false,
  logLevel: 'warning'
});

for (const name of ['@duckdb/node-api', '@duckdb/node-bindings', `@duckdb/node-bindings-${process.platform}-${process.arch}`]) {
  const source = dirname(require.resolve(`${name}/package.json`));
  cpSync(source, join(out, 'node_modules', name), { recursive: true, dereference: true });
}
// engine/duckdb/native.ts looks for it in native/ beside the bundle.
mkdirSync(join(out, 'native'));
cpSync(buildNative(), join(out, 'native', ADDON_FILE));
console.log(`service bundled into ${out}`);
