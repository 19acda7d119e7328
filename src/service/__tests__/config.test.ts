import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../config/load';
import { WardenService } from '../service';
import { demoLake, quietLogger, tempDir } from './helpers';

let demo: Awaited<ReturnType<typeof demoLake>>;

before(async () => {
  demo = await demoLake(100);
});
after(() => demo.remove());

/** A copy of the demo config with one file replaced. */
function variant(file: string, text: string): string {
  const dir = tempDir('config');
  const config = join(dir.path, 'config');
  spawnSync('cp', ['-r', demo.configDir, config]);
  // Keep data roots pointing at the demo lake.
  const settings = readFileSync(join(config, 'warden.yaml'), 'utf8').replace('data_roots: [../lake]', `data_roots: [${demo.lakeDir}]`).replace('path: ../audit/audit.jsonl', `path: ${dir.path}/audit.jsonl`);
  writeFileSync(join(config, 'warden.yaml'), settings);
  writeFileSync(join(config, file), text);
  return config;
}

function loadError(config: string): ConfigError {
  try {
    loadConfig(config);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail('configuration loaded although it is invalid');
}

test('the demo configuration loads: datasets, policies (with built-ins), personas', () => {
  const config = loadConfig(demo.configDir);
  assert.deepEqual(config.datasets.map(d => d.name), [
    'drug_xyz.trial_july2020', 'drug_xyz.trial_march2021', 'drug_abc.trial_jan2022', 'commercial.production_batches', 'warden.audit_log'
  ]);
  assert.ok(config.policies.some(p => p.name === 'builtin-audit-own-records'));
  assert.deepEqual(config.directory.get('alice'), { groups: ['analysts'], attributes: { region: 'US', clearance: 'standard' } });
});

const BAD_POLICIES: [string, string, number, RegExp][] = [
  ['unknown effect', 'policies:\n  - name: p\n    effect: allow\n    datasets: { tags: [x] }\n    principals: { everyone: true }\n', 3, /policies\.0\.effect: must be one of "grant", "deny"/],
  ['unknown mask', 'policies:\n  - name: p\n    effect: column_mask\n    datasets: { tags: [x] }\n    principals: { everyone: true }\n    columns: { names: [a] }\n    mask: { type: scramble }\n', 7, /policies\.0\.mask/],
  ['missing principals', 'policies:\n  - name: p\n    effect: grant\n    datasets: { tags: [x] }\n', 2, /policies\.0: missing "principals"/],
  ['bad expression', "policies:\n  - name: p\n    effect: row_filter\n    datasets: { tags: [x] }\n    principals: { everyone: true }\n    filter: country = 'US\n", 6, /invalid expression: unterminated string literal/],
  ['duplicate names', 'policies:\n  - name: p\n    effect: grant\n    datasets: { tags: [x] }\n    principals: { everyone: true }\n  - name: p\n    effect: grant\n    datasets: { tags: [x] }\n    principals: { everyone: true }\n', 6, /policy p is already defined/],
  ['YAML syntax', 'policies:\n  - name: p\n   effect: grant\n', 3, /invalid YAML/],
  ['typo in a key', 'policies:\n  - name: p\n    effect: grant\n    datasets: { tags: [x] }\n    principal: { everyone: true }\n', 2, /missing "principals"|unknown key "principal"/]
];

for (const [what, text, line, message] of BAD_POLICIES) {
  test(`an invalid policy file (${what}) is refused with file, line and problem`, () => {
    const error = loadError(variant('policies/bad.yaml', text));
    assert.match(error.file, /policies\/bad\.yaml$/);
    assert.equal(error.line, line);
    assert.match(error.problem, message);
  });
}

test('a source path with .. or outside the data roots is refused', () => {
  for (const path of ['../config/warden.yaml', '/etc/passwd']) {
    const error = loadError(variant('catalog/extra.yaml', `datasets:\n  - name: x.y\n    source: { format: csv, path: "${path}" }\n`));
    assert.equal(error.line, 3);
    assert.match(error.problem, /contains "\.\."|outside the data roots/);
  }
});

test('a symbolic link out of the data roots is refused', () => {
  symlinkSync('/etc/passwd', join(demo.lakeDir, 'escape.csv'));
  const error = loadError(variant('catalog/extra.yaml', 'datasets:\n  - name: x.y\n    source: { format: csv, path: escape.csv }\n'));
  assert.match(error.problem, /leads outside the data roots through a symbolic link/);
});

test('the service refuses to start when a declared column is not in the source', async () => {
  const config = variant('catalog/extra.yaml', 'datasets:\n  - name: x.y\n    source: { format: parquet, path: drug_xyz/trial_july2020.parquet }\n    columns:\n      - { name: salary }\n');
  await assert.rejects(WardenService.start(config, quietLogger), (error: unknown) => error instanceof ConfigError && /column "salary" is not in the source/.test(error.message) && error.line === 2);
});

test('hot reload applies a good change and keeps the last good config on a bad one', async () => {
  const config = variant('policies/extra.yaml', 'policies: []\n');
  const errors: string[] = [];
  const service = await WardenService.start(config, { info: () => undefined, error: message => errors.push(message) });
  try {
    const before = service.config.policies.length;
    writeFileSync(join(config, 'policies/extra.yaml'), 'policies:\n  - name: extra\n    effect: grant\n    datasets: { tags: [x] }\n    principals: { everyone: true }\n');
    await service.reload();
    assert.equal(service.config.policies.length, before + 1);
    writeFileSync(join(config, 'policies/extra.yaml'), 'policies:\n  - name: extra\n    effect: grant\n    datasets: { tagz: [x] }\n');
    await service.reload();
    assert.equal(service.config.policies.length, before + 1);
    assert.match(errors.join('\n'), /config reload failed, still serving the last good config: .*extra\.yaml:4: policies\.0\.datasets: unknown key "tagz"/);
  } finally {
    await service.close();
  }
});

test('warden-service refuses to start on an invalid config and names file and line', () => {
  const config = variant('policies/bad.yaml', 'policies:\n  - name: p\n    effect: grant\n    datasets: { tags: [x] }\n    principals: { groups: [] }\n');
  mkdirSync(join(config, 'unused'), { recursive: true });
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/service/main.ts', '--config', config, '--port', '0'], { encoding: 'utf8', env: process.env });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /invalid configuration: .*policies\/bad\.yaml:5: policies\.0\.principals\.groups: must NOT have fewer than 1 items/);
});

test('the watcher reloads on its own when a policy file changes', async () => {
  const config = variant('policies/extra.yaml', 'policies: []\n');
  const service = await WardenService.start(config, quietLogger);
  try {
    service.watchConfig();
    const before = service.config.policies.length;
    // fs.watch needs a moment to set up its recursive watches.
    await new Promise(resolve => setTimeout(resolve, 300));
    writeFileSync(join(config, 'policies/extra.yaml'), 'policies:\n  - name: extra\n    effect: grant\n    datasets: { tags: [x] }\n    principals: { everyone: true }\n');
    const deadline = Date.now() + 5000;
    while (service.config.policies.length === before && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 50));
    }
    assert.equal(service.config.policies.length, before + 1);
  } finally {
    await service.close();
  }
});
