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

/** A copy of the demo config with `extra` appended to warden.yaml (and one file replaced, if given). */
function withSettings(extra: string, file = '', text = ''): string {
  const config = variant(file || 'policies/extra.yaml', file ? text : 'policies: []\n');
  writeFileSync(join(config, 'warden.yaml'), readFileSync(join(config, 'warden.yaml'), 'utf8') + extra);
  return config;
}

const CONNECTION = 'connections:\n  clinical_pg: { host: db.example.com, database: clinical, user: warden, password_env: WARDEN_TEST_PG_PASSWORD }\n';

test('PostgreSQL connections and sources: defaults filled in, the password from the environment', () => {
  process.env.WARDEN_TEST_PG_PASSWORD = 's3cret';
  try {
    const config = loadConfig(
      withSettings(CONNECTION, 'catalog/pg.yaml', 'datasets:\n  - name: clinical.trials\n    source: { format: postgres, connection: clinical_pg, table: public.trials }\n')
    );
    assert.deepEqual(config.settings.connections.get('clinical_pg'), {
      name: 'clinical_pg', host: 'db.example.com', port: 5432, database: 'clinical', user: 'warden', password: 's3cret', ssl: 'disable', sslCa: undefined, poolSize: 10
    });
    assert.deepEqual(config.datasets.find(d => d.name === 'clinical.trials')!.source, { format: 'postgres', connection: 'clinical_pg', table: 'public.trials' });
  } finally {
    delete process.env.WARDEN_TEST_PG_PASSWORD;
  }
});

test('the audit sink may be a PostgreSQL table; the audit dataset then reads that table', () => {
  process.env.WARDEN_TEST_PG_PASSWORD = 's3cret';
  try {
    const config = withSettings(CONNECTION);
    const settings = readFileSync(join(config, 'warden.yaml'), 'utf8').replace(/audit:\n  path: .*\n/, 'audit:\n  postgres: { connection: clinical_pg }\n');
    writeFileSync(join(config, 'warden.yaml'), settings);
    const loaded = loadConfig(config);
    assert.deepEqual(loaded.settings.audit, { sink: 'postgres', connection: 'clinical_pg', table: 'warden_audit' });
    assert.deepEqual(loaded.datasets.find(d => d.name === 'warden.audit_log')!.source, { format: 'postgres', connection: 'clinical_pg', table: 'warden_audit' });
  } finally {
    delete process.env.WARDEN_TEST_PG_PASSWORD;
  }
});

const TRUSTED = 'connections:\n  clinical_pg: { host: db.example.com, database: clinical, user: warden }\n';
const BAD_CONNECTIONS: [string, string, string, string, RegExp][] = [
  ['unknown connection', TRUSTED, 'catalog/pg.yaml', 'datasets:\n  - name: x.y\n    source: { format: postgres, connection: nope, table: t }\n', /pg\.yaml:3: unknown connection "nope": warden\.yaml defines clinical_pg/],
  ['no table', TRUSTED, 'catalog/pg.yaml', 'datasets:\n  - name: x.y\n    source: { format: postgres, connection: clinical_pg }\n', /pg\.yaml:3: datasets\.0\.source: missing "table"/],
  ['a path on a postgres source', TRUSTED, 'catalog/pg.yaml', 'datasets:\n  - name: x.y\n    source: { format: postgres, connection: clinical_pg, table: t, path: a.csv }\n', /pg\.yaml:3: datasets\.0\.source: unknown key "path"/],
  ['a table name that is not one', TRUSTED, 'catalog/pg.yaml', 'datasets:\n  - name: x.y\n    source: { format: postgres, connection: clinical_pg, table: "t; DROP TABLE t" }\n', /pg\.yaml:3: datasets\.0\.source\.table: "t; DROP TABLE t" is not a table name or schema\.table/],
  ['password variable not set', CONNECTION, '', '', /warden\.yaml:\d+: connection clinical_pg: the environment variable WARDEN_TEST_PG_PASSWORD is not set/],
  ['password in the YAML', 'connections:\n  c: { host: h, database: d, user: u, password: hunter2 }\n', '', '', /warden\.yaml:\d+: connections\.c: unknown key "password"/],
  ['a bad connection name', 'connections:\n  bad-name: { host: h, database: d, user: u }\n', '', '', /connections: name "bad-name" is not a connection name/],
  ['a CA file without verification', 'connections:\n  c: { host: h, database: d, user: u, ssl: require, ssl_ca_file: ca.pem }\n', '', '', /connection c: ssl_ca_file needs ssl: verify-full/]
];

for (const [what, settings, file, text, message] of BAD_CONNECTIONS) {
  test(`an invalid PostgreSQL setting (${what}) is refused with file, line and problem`, () => {
    assert.match(loadError(withSettings(settings, file, text)).message, message);
  });
}

test('the audit sink is a file or a table, not both, and names a known connection', () => {
  for (const [audit, message] of [
    ['audit:\n  path: a.jsonl\n  postgres: { connection: c }\n', /warden\.yaml:\d+: audit: set exactly one of path, postgres/],
    ['audit:\n  postgres: { connection: c }\n', /warden\.yaml:\d+: unknown connection "c": warden\.yaml defines no connections/]
  ] as const) {
    const config = variant('policies/extra.yaml', 'policies: []\n');
    const settings = readFileSync(join(config, 'warden.yaml'), 'utf8').replace(/audit:\n  path: .*\n/, audit);
    writeFileSync(join(config, 'warden.yaml'), settings);
    assert.match(loadError(config).message, message);
  }
});

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
