/**
 * Where the native DuckDB-to-Arrow addon is missing or does not load, the service says so once
 * and scans take the JavaScript path with the same answer; without a C compiler, building the
 * addon fails with what to install. The service runs here as it ships: the bundle
 * (scripts/build-service.mjs), from a directory of its own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Table, tableFromIPC } from 'apache-arrow';
import { RunningService, api, demoLake, spawnService, startService, tempDir } from './helpers';

const BUNDLE_DIR = resolve('warden', 'service');
const ADDON = 'warden_duckdb_arrow.node';
const TRIAL = 'drug_xyz.trial_july2020';

let demo: Awaited<ReturnType<typeof demoLake>>;
let reference: RunningService;
const dirs: { remove: () => void }[] = [];

before(async () => {
  assert.ok(existsSync(join(BUNDLE_DIR, 'native', ADDON)), `${BUNDLE_DIR} has no addon: run \`npm run build:service\` first`);
  demo = await demoLake(20_000);
  // The reference: the service in this process, on the native path.
  delete process.env.WARDEN_DUCKDB_ARROW;
  reference = await startService(demo.configDir);
});

after(async () => {
  await reference.close();
  demo.remove();
  for (const dir of dirs) dir.remove();
});

/** The bundle alone in a directory, with `addon` in native/ as the file there (or none). */
function bundleCopy(addon: 'none' | 'not a shared object'): string {
  const dir = tempDir('bundle');
  dirs.push(dir);
  copyFileSync(join(BUNDLE_DIR, 'warden-service.cjs'), join(dir.path, 'warden-service.cjs'));
  symlinkSync(join(BUNDLE_DIR, 'node_modules'), join(dir.path, 'node_modules'));
  if (addon !== 'none') {
    mkdirSync(join(dir.path, 'native'));
    writeFileSync(join(dir.path, 'native', ADDON), 'not a shared object\n');
  }
  return join(dir.path, 'warden-service.cjs');
}

async function scanTable(url: string): Promise<Table> {
  const response = await api(`${url}/datasets/${TRIAL}/scan`, 'alice', { method: 'POST', body: '{}' });
  assert.equal(response.status, 200);
  return tableFromIPC(new Uint8Array(await response.arrayBuffer()));
}

for (const [addon, problem] of [
  ['none', /warden_duckdb_arrow\.node is not built \(run scripts\/setup\.sh or node scripts\/build-native\.mjs\)/],
  ['not a shared object', /native\/warden_duckdb_arrow\.node does not load: .*(invalid ELF header|too short)/]
] as const) {
  test(`addon ${addon}: the service says why, once, and serves the same governed answer from JavaScript`, async () => {
    const service = await spawnService(demo.configDir, { bundle: bundleCopy(addon) });
    try {
      const fallback = await scanTable(service.url);
      await scanTable(service.url);
      const expected = await scanTable(reference.url);
      assert.deepEqual(fallback.schema.fields.map(String), expected.schema.fields.map(String));
      assert.equal(fallback.numRows, expected.numRows);
      assert.ok(fallback.numRows > 5000);
      for (const field of expected.schema.fields) {
        assert.deepEqual([...fallback.getChild(field.name)!], [...expected.getChild(field.name)!], field.name);
      }
      // The JavaScript path's batches: 32,768 rows (the native path cuts them by bytes).
      assert.ok(fallback.batches.every(batch => batch.numRows <= 32_768));
      const warnings = service.lines.filter(line => line.includes('DuckDB scans convert to Arrow in JavaScript'));
      assert.equal(warnings.length, 1, service.lines.join('\n'));
      assert.match(warnings[0], problem);
    } finally {
      await service.stop();
    }
  });
}

test('without a C compiler, building the addon fails and says what to install', () => {
  const cache = tempDir('native-cache');
  dirs.push(cache);
  const built = spawnSync(process.execPath, ['scripts/build-native.mjs'], {
    env: { ...process.env, CC: '/nonexistent/cc', WARDEN_CACHE_DIR: cache.path },
    encoding: 'utf8'
  });
  assert.equal(built.status, 1);
  assert.match(built.stderr, /build-native: \/nonexistent\/cc could not run \(.*ENOENT.*\)\. Install a C compiler \(Debian: apt-get install gcc libc6-dev\) or set CC\./);
});
