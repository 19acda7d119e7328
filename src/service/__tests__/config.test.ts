import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { AUDIT_BUILTINS } from '../audit/dataset';
import { ConfigError, loadConfig } from '../config/load';
import { WardenService } from '../service';
import { Policy } from '../policy/types';
import { weakenedProtections } from '../config/weakening';
import { MAX_COMPARED_PAIRS, weakenedEffects } from '../config/effect-weakening';
import { DirectoryEntry } from '../config/types';
import { parseExpression } from '../policy/parse';
import { api, demoLake, quietLogger, startService, tempDir } from './helpers';

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
    loadConfig(config, AUDIT_BUILTINS);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail('configuration loaded although it is invalid');
}

test('the demo configuration loads: datasets, policies (with built-ins), personas', () => {
  const config = loadConfig(demo.configDir, AUDIT_BUILTINS);
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
  ['a key its effect does not take', 'policies:\n  - name: p\n    effect: grant\n    datasets: { tags: [x] }\n    principals: { everyone: true }\n    filter: a = 1\n', 2, /policies\.0: effect grant takes none of filter, when, columns, mask$/],
  ['typo in a key', 'policies:\n  - name: p\n    effect: grant\n    datasets: { tags: [x] }\n    principal: { everyone: true }\n', 2, /missing "principals"|unknown key "principal"/],
  [
    'a deny on a dataset the catalog does not have',
    'policies:\n  - name: p\n    effect: deny\n    datasets:\n      names: [drug_xyz.*, drug_xyz.trial_jully2020]\n    principals: { everyone: true }\n',
    5,
    /^policy p: datasets\.names: "drug_xyz\.trial_jully2020" is not a dataset of the catalog \(did you mean drug_xyz\.trial_july2020\?\): a protection aimed at it protects nothing/
  ],
  [
    'a column mask on a dataset the catalog does not have, nothing close',
    'policies:\n  - name: p\n    effect: column_mask\n    datasets: { names: [lab.peeple] }\n    principals: { everyone: true }\n    columns: { names: [ssn] }\n    mask: { type: hide }\n',
    4,
    /^policy p: datasets\.names: "lab\.peeple" is not a dataset of the catalog: a protection/
  ],
  [
    'a row filter reading a user attribute no user has',
    'policies:\n  - name: p\n    effect: row_filter\n    datasets: { tags: [clinical] }\n    principals: { everyone: true }\n    filter: country = user.regoin\n',
    6,
    /^policy p: filter: user\.regoin is an attribute no user in directory\.yaml has \(did you mean user\.region\?\): it would be NULL for every user \(a filter then withholds every row/
  ],
  [
    'a cell-mask condition reading a user attribute no user has',
    "policies:\n  - name: p\n    effect: cell_mask\n    datasets: { tags: [clinical] }\n    principals: { everyone: true }\n    columns: { names: [adverse_events] }\n    when: user.clearence <> 'high'\n    mask: { type: redact }\n",
    7,
    /^policy p: when: user\.clearence is an attribute no user in directory\.yaml has \(did you mean user\.clearance\?\)/
  ],
  [
    'a cell mask on a dataset the catalog does not have',
    "policies:\n  - name: p\n    effect: cell_mask\n    datasets: { names: [commercial.production_batchs] }\n    principals: { everyone: true }\n    columns: { names: [plant] }\n    when: \"plant = 'Basel'\"\n    mask: { type: redact }\n",
    4,
    /\(did you mean commercial\.production_batches\?\)/
  ],
  [
    'a mask for principals selected by an attribute no user has',
    'policies:\n  - name: p\n    effect: column_mask\n    datasets: { tags: [clinical] }\n    principals:\n      attributes: { clearence: standard }\n    columns: { names: [ssn] }\n    mask: { type: hide }\n',
    6,
    /^policy p: principals: user\.clearence is an attribute no user in directory\.yaml has \(did you mean user\.clearance\?\): the policy would apply to no one$/
  ]
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

test('patterns and tags that match no dataset, grants naming one that does not exist, and attributes from trusted token claims are accepted', () => {
  const policies =
    'policies:\n' +
    '  - { name: future-deny, effect: deny, datasets: { names: [lab.*], tags: [lab] }, principals: { everyone: true } }\n' +
    '  - { name: future-grant, effect: grant, datasets: { names: [lab.people] }, principals: { everyone: true } }\n' +
    "  - { name: by-site, effect: row_filter, datasets: { tags: [clinical] }, principals: { everyone: true }, filter: 'site = user.site OR country = user.region OR user.name IN user.groups' }\n";
  const untrusted = loadError(variant('policies/extra.yaml', policies));
  assert.match(untrusted.problem, /^policy by-site: filter: user\.site is an attribute no user in directory\.yaml has/);
  const config = withSettings('', 'policies/extra.yaml', policies);
  writeFileSync(join(config, 'warden.yaml'), readFileSync(join(config, 'warden.yaml'), 'utf8').replace('identity:\n', 'identity:\n  trusted_claims: [attributes]\n'));
  const loaded = loadConfig(config, AUDIT_BUILTINS);
  assert.deepEqual(loaded.policies.filter(policy => policy.name.startsWith('future') || policy.name === 'by-site').map(policy => policy.name), ['future-deny', 'future-grant', 'by-site']);
});

test('PostgreSQL connections and sources: defaults filled in, the password from the environment', () => {
  process.env.WARDEN_TEST_PG_PASSWORD = 's3cret';
  try {
    const config = loadConfig(
      withSettings(CONNECTION, 'catalog/pg.yaml', 'datasets:\n  - name: clinical.trials\n    source: { format: postgres, connection: clinical_pg, table: public.trials }\n')
    );
    assert.deepEqual(config.settings.connections.get('clinical_pg'), {
      kind: 'postgres', name: 'clinical_pg', host: 'db.example.com', port: 5432, database: 'clinical', user: 'warden', password: 's3cret', ssl: 'disable', sslCa: undefined, poolSize: 10, workMemMib: undefined, statementTimeoutMs: 600_000
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
    const settings = readFileSync(join(config, 'warden.yaml'), 'utf8').replace(/audit:\n {2}path: .*\n/, 'audit:\n  postgres: { connection: clinical_pg }\n');
    writeFileSync(join(config, 'warden.yaml'), settings);
    const loaded = loadConfig(config, AUDIT_BUILTINS);
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
    const settings = readFileSync(join(config, 'warden.yaml'), 'utf8').replace(/audit:\n {2}path: .*\n/, audit);
    writeFileSync(join(config, 'warden.yaml'), settings);
    assert.match(loadError(config).message, message);
  }
});

/** The demo config with its identity block replaced. */
function withIdentity(identity: string): string {
  const config = variant('policies/extra.yaml', 'policies: []\n');
  const settings = readFileSync(join(config, 'warden.yaml'), 'utf8').replace(/identity:\n( {2}.*\n)+/, identity);
  writeFileSync(join(config, 'warden.yaml'), settings);
  return config;
}

test('identity: trusted claims and the maximum token lifetime default to the subject only and one day', () => {
  const { identity } = loadConfig(demo.configDir).settings;
  assert.deepEqual([identity.trustedClaims, identity.maxTokenLifetimeSeconds, identity.hub], [[], 86400, undefined]);
  const trusting = loadConfig(withIdentity('identity:\n  audience: warden\n  jwks_url: https://idp.example.com/jwks\n  trusted_claims: [groups]\n  max_token_lifetime_seconds: 600\n'));
  assert.deepEqual([trusting.settings.identity.trustedClaims, trusting.settings.identity.maxTokenLifetimeSeconds], [['groups'], 600]);
});

test('identity: JupyterHub tokens, with the hub API and the service token from the environment the hub gives its services', () => {
  const saved = { url: process.env.JUPYTERHUB_API_URL, token: process.env.JUPYTERHUB_API_TOKEN };
  try {
    delete process.env.JUPYTERHUB_API_URL;
    delete process.env.JUPYTERHUB_API_TOKEN;
    assert.match(loadError(withIdentity('identity:\n  hub: {}\n')).message, /warden\.yaml:\d+: identity\.hub: no hub API URL: set identity\.hub\.api_url, or run Warden as a JupyterHub service/);
    process.env.JUPYTERHUB_API_URL = 'http://127.0.0.1:8081/hub/api/';
    assert.match(loadError(withIdentity('identity:\n  hub: {}\n')).message, /identity\.hub: the environment variable JUPYTERHUB_API_TOKEN with the service's own hub token is not set/);
    process.env.JUPYTERHUB_API_TOKEN = 'service-token';
    const { identity } = loadConfig(withIdentity('identity:\n  hub: { trusted_claims: [groups], cache_seconds: 5 }\n')).settings;
    assert.deepEqual(identity.hub, { apiUrl: 'http://127.0.0.1:8081/hub/api', serviceToken: 'service-token', trustedClaims: ['groups'], maxTokenLifetimeSeconds: 30 * 86400, cacheSeconds: 5 });
    assert.deepEqual(identity.algorithms, []);
    assert.match(loadError(withIdentity('identity:\n  hub: { trusted_claims: [attributes] }\n')).message, /identity\.hub\.trusted_claims\.0: must be one of "groups"/);
    assert.match(loadError(withIdentity('identity:\n  jwks_url: https://idp.example.com/jwks\n')).message, /identity: missing "audience", the `aud` every JWT must carry/);
    assert.match(loadError(withIdentity('identity:\n  audience: warden\n')).message, /identity: set at least one of hs256_secret_env, jwks_file, jwks_url, hub/);
    assert.match(loadError(withIdentity('identity:\n  hub: {}\n  algorithms: [RS256]\n')).message, /algorithms are listed but no JWT key is configured/);
  } finally {
    for (const [name, value] of [['JUPYTERHUB_API_URL', saved.url], ['JUPYTERHUB_API_TOKEN', saved.token]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
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
    const refused = errors.map(line => JSON.parse(line)).filter(line => line.event === 'config_reload' && line.outcome === 'refused');
    assert.match(refused[0]?.reason, /extra\.yaml:4: policies\.0\.datasets: unknown key "tagz".* \(the last good configuration keeps serving\)$/);
  } finally {
    await service.close();
  }
});

test('a source that cannot be read holds back no reload (an urgent deny applies) but refuses a start and a new dataset', async () => {
  const lab = tempDir('lab-root').path;
  const labYaml = (...names: string[]) => 'datasets:\n' + names.map(name => `  - name: ${name}\n    source: { format: parquet, path: ${lab}/lab/copy.parquet }\n`).join('');
  const config = variant('catalog/lab.yaml', labYaml('lab.copy'));
  mkdirSync(join(lab, 'lab'), { recursive: true });
  copyFileSync(join(demo.lakeDir, 'drug_xyz/trial_july2020.parquet'), join(lab, 'lab/copy.parquet'));
  const settings = join(config, 'warden.yaml');
  writeFileSync(settings, readFileSync(settings, 'utf8').replace(`data_roots: [${demo.lakeDir}]`, `data_roots: [${demo.lakeDir}, ${lab}]`));
  const errors: string[] = [];
  const running = await startService(config, { info: () => undefined, error: message => errors.push(message) });
  const previewStatus = async (user: string, dataset: string) => (await api(`${running.url}/datasets/${dataset}/preview?limit=3`, user)).status;
  try {
    assert.deepEqual([await previewStatus('alice', 'lab.copy'), await previewStatus('alice', 'drug_xyz.trial_july2020')], [404, 200]);
    truncateSync(join(lab, 'lab/copy.parquet'), 300);
    writeFileSync(join(config, 'policies/urgent.yaml'), 'policies:\n  - name: urgent-stop\n    effect: deny\n    datasets: { names: [drug_xyz.trial_july2020] }\n    principals: { groups: [analysts] }\n');
    assert.equal(await running.service.reload(), 'applied');
    assert.equal(await previewStatus('alice', 'drug_xyz.trial_july2020'), 404, 'the deny applies');
    const unreadable = errors.map(line => JSON.parse(line)).find(line => line.event === 'config_reload_sources_unreadable');
    assert.deepEqual(unreadable?.datasets.map((entry: { dataset: string }) => entry.dataset), ['lab.copy']);
    // A new dataset on an unreadable source is still refused, with file and line.
    writeFileSync(join(config, 'catalog/lab.yaml'), labYaml('lab.copy', 'lab.other'));
    assert.equal(await running.service.reload(), 'refused');
  } finally {
    await running.close();
  }
  await assert.rejects(WardenService.start(config, quietLogger), (error: unknown) => error instanceof ConfigError && /lab\.yaml:2: dataset lab\.copy: cannot read source/.test(error.message));
});

test('warden-service refuses to start on an invalid config and names file and line', () => {
  const config = variant('policies/bad.yaml', 'policies:\n  - name: p\n    effect: grant\n    datasets: { tags: [x] }\n    principals: { groups: [] }\n');
  mkdirSync(join(config, 'unused'), { recursive: true });
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/service/main.ts', '--config', config, '--port', '0'], { encoding: 'utf8', env: process.env });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /invalid configuration: .*policies\/bad\.yaml:5: policies\.0\.principals\.groups: must NOT have fewer than 1 items/);
});

test('the watcher reloads on its own at every change, also when files are replaced by rename (as deployments do)', async () => {
  const config = variant('policies/extra.yaml', 'policies: []\n');
  const service = await WardenService.start(config, quietLogger);
  const policies = (count: number) =>
    count === 0 ? 'policies: []\n' : 'policies:\n' + Array.from({ length: count }, (_, i) => `  - name: extra${i}\n    effect: grant\n    datasets: { tags: [x] }\n    principals: { everyone: true }\n`).join('');
  const reloadedTo = async (count: number) => {
    const deadline = Date.now() + 5000;
    while (service.config.policies.filter(p => p.name.startsWith('extra')).length !== count && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 50));
    }
    assert.equal(service.config.policies.filter(p => p.name.startsWith('extra')).length, count);
  };
  try {
    service.watchConfig();
    writeFileSync(join(config, 'policies/extra.yaml'), policies(1));
    await reloadedTo(1);
    // Written aside and renamed over, again and again: each one is seen (a watch on the file
    // itself would stay on the replaced file and miss every change after the first).
    for (const count of [2, 0, 3]) {
      writeFileSync(join(config, 'policies/extra.yaml.tmp'), policies(count));
      renameSync(join(config, 'policies/extra.yaml.tmp'), join(config, 'policies/extra.yaml'));
      await reloadedTo(count);
    }
    // A new catalog file counts too.
    writeFileSync(join(config, 'catalog/more.yaml'), 'datasets:\n  - name: more.trial\n    source: { format: parquet, path: drug_xyz/trial_july2020.parquet }\n');
    const deadline = Date.now() + 5000;
    while (!service.catalog.get('more.trial') && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50));
    assert.ok(service.catalog.get('more.trial'));
    // An editor's lock file (Emacs: a dangling link `.#name.yaml`) and hidden backups are not
    // configuration: they neither block the reload nor are read.
    symlinkSync('root@host.1234:1700000000', join(config, 'policies/.#extra.yaml'));
    writeFileSync(join(config, 'catalog/.more.yaml.swp.yaml'), 'not: [valid');
    writeFileSync(join(config, 'policies/extra.yaml'), policies(4));
    await reloadedTo(4);
  } finally {
    await service.close();
  }
});

test("a dataset's order_by is read as order keys; one that is not, or names a column the source lacks, is refused with file and line", async () => {
  const catalog = (orderBy: string) =>
    `datasets:\n  - name: extra.trial\n    source: { format: parquet, path: drug_xyz/trial_july2020.parquet }\n    order_by: ${orderBy}\n`;
  const loaded = loadConfig(variant('catalog/extra.yaml', catalog('[enrolled_on DESC, "participant_id"]')));
  assert.deepEqual(loaded.datasets.find(d => d.name === 'extra.trial')!.orderBy, [
    { column: 'enrolled_on', descending: true },
    { column: 'participant_id', descending: false }
  ]);
  const bad = loadError(variant('catalog/extra.yaml', catalog('[enrolled_on DOWN]')));
  assert.equal(bad.line, 4);
  assert.match(bad.problem, /order_by\.0: "enrolled_on DOWN" is not a column name, optionally followed by ASC or DESC/);
  await assert.rejects(WardenService.start(variant('catalog/extra.yaml', catalog('[enrolment]')), quietLogger), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /extra\.yaml:2: dataset extra\.trial: order_by names column "enrolment", which is not in the source/);
    return true;
  });
});

test('a reload that removes or may weaken a deny, filter or mask is reported; one that only tightens is not', () => {
  const origin = { file: 'policies/p.yaml', line: 2 };
  const base = { datasets: { tags: ['clinical'] }, principals: { groups: ['analysts'] }, origin };
  const before: Policy[] = [
    { ...base, name: 'deny-contractors', effect: 'deny', principals: { groups: ['contractors', 'visitors'] } },
    { ...base, name: 'own-region', effect: 'row_filter', filter: parseExpression('country = user.region') },
    { ...base, name: 'ssn', effect: 'column_mask', columns: { tags: ['pii'] }, mask: { type: 'show_last', n: 4 } },
    { ...base, name: 'placebo', effect: 'cell_mask', columns: { names: ['adverse_events'] }, mask: { type: 'redact' }, when: parseExpression("arm = 'placebo'") },
    { ...base, name: 'names', effect: 'column_mask', columns: { names: ['name'] }, mask: { type: 'hash' } },
    { ...base, name: 'readers', effect: 'grant' }
  ];
  const tightened: Policy[] = [
    { ...base, name: 'deny-contractors', effect: 'deny', principals: { groups: ['contractors', 'visitors', 'interns'] }, datasets: { tags: ['clinical', 'commercial'] } },
    { ...base, name: 'own-region', effect: 'row_filter', filter: parseExpression('country = user.region') },
    { ...base, name: 'ssn', effect: 'column_mask', columns: { tags: ['pii', 'pii.ssn'] }, mask: { type: 'show_last', n: 2 } },
    { ...base, name: 'placebo', effect: 'cell_mask', columns: { names: ['adverse_events'] }, mask: { type: 'redact', value: '[blinded]' }, when: parseExpression("arm = 'placebo'") },
    { ...base, name: 'names', effect: 'column_mask', columns: { names: ['name'] }, mask: { type: 'hide' } }
  ];
  assert.deepEqual(weakenedProtections(before, tightened), []);
  const weakened: Policy[] = [
    { ...base, name: 'deny-contractors', effect: 'deny', principals: { groups: ['contractors'] } },
    { ...base, name: 'own-region', effect: 'row_filter', filter: parseExpression("country = user.region OR country = 'DE'") },
    { ...base, name: 'ssn', effect: 'column_mask', columns: { tags: ['pii'] }, mask: { type: 'show_last', n: 6 }, unless: { groups: ['seniors'] } },
    { ...base, name: 'placebo', effect: 'cell_mask', columns: { names: [] }, mask: { type: 'redact' }, when: parseExpression("arm = 'placebo'") }
  ];
  assert.deepEqual(
    weakenedProtections(before, weakened).map(w => [w.policy, w.file, w.line, w.changes]),
    [
      ['deny-contractors', 'policies/p.yaml', 2, ['applies to fewer principals']],
      ['own-region', 'policies/p.yaml', 2, [`filter changed from "country = user.region" to "country = user.region OR country = 'DE'"`]],
      ['ssn', 'policies/p.yaml', 2, ['exempts more principals (unless)', 'mask weakened from {"type":"show_last","n":4} to {"type":"show_last","n":6}']],
      ['placebo', 'policies/p.yaml', 2, ['masks fewer columns']],
      ['names', 'policies/p.yaml', 2, ['removed']]
    ]
  );
});

test('a reload that weakens protections through the catalog or the directory is reported per user, dataset and column', async () => {
  const config = variant('policies/extra.yaml', 'policies: []\n');
  const errors: string[] = [];
  const service = await WardenService.start(config, { info: () => undefined, error: message => errors.push(message) });
  const loud = () => errors.map(line => JSON.parse(line)).filter(line => line.event === 'config_reload_weakens_protections');
  const edit = async (file: string, from: string, to: string) => {
    const path = join(config, file);
    const text = readFileSync(path, 'utf8');
    assert.ok(text.includes(from), `${file} has ${from}`);
    writeFileSync(path, text.replace(from, to));
    assert.equal(await service.reload(), 'applied');
  };
  try {
    // A tag taken off a column: the ssn mask no longer reaches it, for every user it masked.
    await edit('catalog/clinical.yaml', 'tags: [pii.direct, pii.ssn]', 'tags: [pii.direct]');
    assert.equal(loud().length, 1);
    assert.deepEqual(loud()[0].weakened, []);
    // The three trials share their columns (a YAML anchor).
    assert.deepEqual(
      loud()[0].effects,
      ['drug_xyz.trial_july2020', 'drug_xyz.trial_march2021', 'drug_abc.trial_jan2022'].map(dataset => ({ user: 'alice', dataset, column: 'ssn', before: 'last 4 characters shown', after: 'clear', changed: ['catalog'] }))
    );
    // A user put in the exempt group: every mask exempting it is gone for her (her row filter and cell mask stay).
    await edit('directory.yaml', 'groups: [analysts]', 'groups: [analysts, privacy-officers]');
    assert.equal(loud().length, 2);
    const effects = loud()[1].effects as { user: string; dataset: string; column?: string; before: string; after: string; changed: string[] }[];
    assert.ok(effects.every(effect => effect.user === 'alice' && effect.after === 'clear' && JSON.stringify(effect.changed) === '["directory"]'), JSON.stringify(effects));
    assert.deepEqual(
      effects.filter(effect => effect.dataset === 'drug_xyz.trial_july2020').map(effect => [effect.column, effect.before]),
      [
        ['name', "redacted as '[redacted]'"],
        ['date_of_birth', 'year only'],
        ['email', 'email domain only']
      ]
    );
    // Taking her out again only tightens: nothing more is reported.
    await edit('directory.yaml', 'groups: [analysts, privacy-officers]', 'groups: [analysts]');
    assert.equal(loud().length, 2);
  } finally {
    await service.close();
  }
});

test('the effect check decides again only the users and datasets whose inputs changed, and at most a bounded number of them', () => {
  const origin = { file: 'policies/p.yaml', line: 2 };
  const datasets = Array.from({ length: 30_000 }, (_, i) => ({ name: `lake.t${i}`, tags: ['lake'], columns: [{ name: 'ssn', tags: ['pii'] }, { name: 'site', tags: [] }] }));
  const grant: Policy = { name: 'readers', effect: 'grant', datasets: { tags: ['lake'] }, principals: { everyone: true }, origin };
  const mask: Policy = { name: 'ssn-hidden', effect: 'column_mask', datasets: { tags: ['lake'] }, principals: { groups: ['analysts'] }, columns: { tags: ['pii'] }, mask: { type: 'hide' }, origin };
  const directory = new Map<string, DirectoryEntry>([
    ['ann', { groups: ['analysts'], attributes: { region: 'US' } }],
    ['bob', { groups: ['analysts'], attributes: { region: 'EU' } }],
    ['eve', { groups: [], attributes: { desk: '4' } }]
  ]);
  const inputs = { policies: [grant, mask], datasets, directory };
  // One dataset's column lost its tag: 3 users on 1 dataset decided again, 2 of them lose the mask.
  const untagged = { ...inputs, datasets: datasets.map((facts, i) => (i === 7 ? { ...facts, columns: [{ name: 'ssn', tags: [] }, facts.columns[1]] } : facts)) };
  const oneDataset = weakenedEffects(inputs, untagged);
  assert.deepEqual([oneDataset.compared, oneDataset.notCompared], [3, 0]);
  assert.deepEqual(oneDataset.weakened.map(effect => [effect.user, effect.dataset, effect.column, effect.before, effect.after, effect.changed]), [
    ['ann', 'lake.t7', 'ssn', 'hidden', 'clear', ['catalog']],
    ['bob', 'lake.t7', 'ssn', 'hidden', 'clear', ['catalog']]
  ]);
  // A user whose change no policy reads is not decided again at all.
  const eveMoved = weakenedEffects(inputs, { ...inputs, directory: new Map<string, DirectoryEntry>([...directory, ['eve', { groups: [], attributes: { desk: '5' } }]]) });
  assert.deepEqual([eveMoved.compared, eveMoved.weakened], [0, []]);
  // The mask removed on 30,000 datasets for 2 users: the work stops at the bound, and says how much is left.
  const removed = weakenedEffects(inputs, { ...inputs, policies: [grant] });
  assert.equal(removed.compared, MAX_COMPARED_PAIRS);
  assert.equal(removed.notCompared, 60_000 - MAX_COMPARED_PAIRS);
  assert.equal(removed.weakened.length + removed.more, MAX_COMPARED_PAIRS);
  assert.deepEqual(removed.weakened[0], { user: 'ann', dataset: 'lake.t0', column: 'ssn', before: 'hidden', after: 'clear', changed: ['policies'] });
});

test('a row filter on a column that some selected dataset lacks stops the start with file, line and the datasets', async () => {
  const config = variant('policies/extra.yaml', "policies:\n  - name: by-plant\n    effect: row_filter\n    datasets: { tags: [clinical, commercial] }\n    principals: { everyone: true }\n    filter: plant = 'Basel'\n");
  await assert.rejects(WardenService.start(config, quietLogger), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.file, /policies\/extra\.yaml$/);
    assert.equal(error.line, 2);
    assert.match(error.problem, /^policy by-plant: filter reads column "plant", which drug_xyz\.trial_july2020 \(selected by tag clinical\), drug_xyz\.trial_march2021 \(selected by tag clinical\), drug_abc\.trial_jan2022 \(selected by tag clinical\) do not have: fix the column name, or narrow the policy's datasets to those that have it$/);
    return true;
  });
});

test('a row filter comparing a column with a value of another type stops the start, naming the users whose attribute differs', async () => {
  const config = variant('directory.yaml', readFileSync(join(demo.configDir, 'directory.yaml'), 'utf8').replace('attributes: { company: Acme CRO }', 'attributes: { company: Acme CRO, region: 49 }'));
  writeFileSync(join(config, 'policies/extra.yaml'), "policies:\n  - name: region-for-everyone\n    effect: row_filter\n    datasets: { names: [drug_xyz.trial_july2020] }\n    principals: { everyone: true }\n    filter: country = user.region OR enrolled_on >= '2020-07-03'\n");
  await assert.rejects(WardenService.start(config, quietLogger), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.line, 2);
    assert.equal(
      error.problem,
      'policy region-for-everyone: filter compares column "country" (VARCHAR in drug_xyz.trial_july2020) with user.region, which is a number for carlos in directory.yaml: compare values of the column\'s type (text)'
    );
    return true;
  });
});
