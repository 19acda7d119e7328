/**
 * The registries: a mask declared once (common/masks.ts) appears in the policies schema, in
 * the words and labels people read, and in the SQL of every dialect; engine kinds (engine/kinds.ts)
 * configure connections and sources.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import Ajv from 'ajv';
import { MASK_INDICATOR_PREFIX } from '../../common/api';
import { MASKS, MASK_TYPES, MaskDeclaration, MaskSpec, TypeFamily, describeMask, maskJsonSchema, maskLabel } from '../../common/masks';
import { AUDIT_BUILTINS } from '../audit/dataset';
import { ConfigError, loadConfig } from '../config/load';
import { compileScan } from '../engine/compile';
import { Dialect, maskSql } from '../engine/dialect';
import { duckdbDialect } from '../engine/duckdb';
import { ENGINE_KINDS, registerKinds } from '../engine/kinds';
import { Params } from '../engine/sql';
import { Decision } from '../policy/decide';
import { WardenService } from '../service';
import { documentedTable, maskTable } from '../../../scripts/mask-docs';
import { demoLake, quietLogger, tempDir } from './helpers';

let demo: Awaited<ReturnType<typeof demoLake>>;
let instance: DuckDBInstance;
let connection: DuckDBConnection;

/** A column of each family, in DuckDB. */
const COLUMN_OF: Record<TypeFamily, { name: string; type: string } | undefined> = {
  text: { name: 't', type: 'VARCHAR' },
  integer: { name: 'i', type: 'INTEGER' },
  decimal: { name: 'd', type: 'DECIMAL(10,2)' },
  float: { name: 'f', type: 'DOUBLE' },
  boolean: { name: 'b', type: 'BOOLEAN' },
  date: { name: 'dt', type: 'DATE' },
  timestamp: { name: 'ts', type: 'TIMESTAMP' },
  other: undefined
};
const COLUMNS = Object.values(COLUMN_OF).filter(column => column !== undefined);

before(async () => {
  demo = await demoLake(100);
  instance = await DuckDBInstance.create(':memory:');
  connection = await instance.connect();
  await connection.run(`CREATE TABLE sample AS SELECT 'alice@example.com' AS t, 42 AS i, CAST(12.34 AS DECIMAL(10,2)) AS d, 2.5 AS f, true AS b,
    DATE '1980-05-17' AS dt, TIMESTAMP '2020-07-01 12:00:00' AS ts`);
});

after(() => {
  connection.closeSync();
  instance.closeSync();
  demo.remove();
});

/** The example of a declaration: a mask of its type, parameters filled in. */
const sample = (declaration: MaskDeclaration) => declaration.example as MaskSpec;

const declarations = Object.values(MASKS) as MaskDeclaration[];

test('every declared mask is in the policies schema, with its own parameters and no others', () => {
  const validate = new Ajv({ strict: true }).compile(maskJsonSchema());
  for (const declaration of declarations) {
    const mask = sample(declaration);
    assert.ok(validate(mask), `${declaration.name}: ${JSON.stringify(validate.errors)}`);
    assert.equal(validate({ ...mask, unexpected: 1 }), false, `${declaration.name} takes no "unexpected" parameter`);
    for (const key of declaration.schema.required ?? []) {
      if (key !== 'type') assert.equal(validate({ ...mask, [key]: undefined }), false, `${declaration.name} requires ${key}`);
    }
  }
  assert.equal(validate({ type: 'scramble' }), false);
});

test('the table of masks in docs/configuration.md is generated from the declarations, and current', () => {
  assert.equal(documentedTable(), maskTable(), 'run `npm run docs:masks`');
  for (const declaration of declarations) assert.ok(maskTable().includes(`type: ${declaration.name}`), declaration.name);
});

test('every declared mask has words and a label for people', () => {
  for (const declaration of declarations) {
    const mask = sample(declaration);
    assert.match(describeMask(mask), /\w/);
    assert.ok(maskLabel(mask).startsWith(declaration.name), maskLabel(mask));
  }
  assert.equal(describeMask({ type: 'show_last', n: 4 }), 'last 4 characters shown');
  assert.equal(maskLabel({ type: 'bucket', width: 10 }), 'bucket(10)');
});

test('every declared mask has SQL in every dialect', () => {
  const dialects = [duckdbDialect, ...[...ENGINE_KINDS.values()].map(kind => kind.dialect)];
  assert.deepEqual(dialects.map(dialect => dialect.name), ['duckdb', ...ENGINE_KINDS.keys()], 'each kind speaks its own dialect');
  for (const dialect of dialects) {
    for (const declaration of declarations) {
      const sql = maskSql(dialect, sample(declaration), '"c"', dialect.types.text, { hash: 'h', token: 't' }, new Params());
      assert.match(sql, /\S/, `${dialect.name}: ${declaration.name}`);
    }
  }
});

/** The decision masking every column with `mask`. */
function maskEverything(mask: MaskSpec): Decision {
  return {
    allowed: true,
    rowFilters: [],
    policies: [],
    columns: COLUMNS.map(column => ({ name: column.name, mask, cellMasks: [], effect: { access: 'masked', description: '', cellMasks: [] } }))
  };
}

test('on DuckDB, every declared mask runs on every column type, and produces the type the compiler says', async () => {
  for (const declaration of declarations.filter(declaration => declaration.name !== 'hide')) {
    const compiled = compileScan(maskEverything(sample(declaration)), COLUMNS, {}, duckdbDialect, { hash: 'h', token: 't' }, () => 'sample');
    const reader = await connection.runAndReadAll(compiled.sql, compiled.params);
    const types = reader.columnTypes().map(type => type.toString());
    compiled.columns.forEach((column, i) => {
      const family = duckdbDialect.familyOf(COLUMNS[i].type);
      const applies = !declaration.appliesTo || declaration.appliesTo.includes(family);
      // A mask that does not fit the column's type becomes redaction (fail closed).
      assert.equal(column.mask, applies ? maskLabel(sample(declaration)) : 'redact', `${declaration.name} on ${COLUMNS[i].type}`);
      assert.equal(types[i].replace(/\(.*\)/, ''), column.type.replace(/\(.*\)/, ''), `${declaration.name} on ${COLUMNS[i].type}`);
    });
  }
});

function withPolicy(mask: string): string {
  const dir = tempDir('registry');
  spawnSync('cp', ['-r', demo.configDir, join(dir.path, 'config')]);
  const config = join(dir.path, 'config');
  const settings = readFileSync(join(config, 'warden.yaml'), 'utf8').replace('data_roots: [../lake]', `data_roots: [${demo.lakeDir}]`);
  writeFileSync(join(config, 'warden.yaml'), settings);
  writeFileSync(
    join(config, 'policies/extra.yaml'),
    `policies:\n  - name: p\n    effect: column_mask\n    datasets: { tags: [x] }\n    principals: { everyone: true }\n    columns: { names: [a] }\n    mask: ${mask}\n`
  );
  return config;
}

function loadError(config: string): ConfigError {
  try {
    loadConfig(config, AUDIT_BUILTINS);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail('the configuration loaded');
}

test('an unknown mask type is refused with the list of the declared ones', () => {
  const error = loadError(withPolicy('{ type: scramble }'));
  assert.equal(error.line, 7);
  assert.equal(error.problem, `policies.0.mask.type: must be one of ${MASK_TYPES.map(type => JSON.stringify(type)).join(', ')}`);
});

test('a mask parameter out of its declared range, or one the mask does not take, is refused', () => {
  assert.match(loadError(withPolicy('{ type: show_last, n: 5000 }')).problem, /policies\.0\.mask\.n: must be <= 1000/);
  assert.match(loadError(withPolicy('{ type: hash, n: 4 }')).problem, /policies\.0\.mask: unknown key "n"/);
  assert.match(loadError(withPolicy('{ type: round }')).problem, /policies\.0\.mask: missing "digits"/);
});

function withSettings(extra: string, catalog = ''): string {
  const config = withPolicy('{ type: hash }');
  writeFileSync(join(config, 'warden.yaml'), readFileSync(join(config, 'warden.yaml'), 'utf8') + extra);
  if (catalog) writeFileSync(join(config, 'catalog/extra.yaml'), catalog);
  return config;
}

test('a connection names its engine kind; without one it is PostgreSQL', () => {
  assert.throws(() => registerKinds([...ENGINE_KINDS.values(), ENGINE_KINDS.get('trino')!]), /two engine kinds are named "trino"/);
  const config = loadConfig(withSettings('connections:\n  old: { host: h, database: d, user: u }\n  new: { kind: postgres, host: h, database: d, user: u }\n'));
  assert.deepEqual(
    [...config.settings.connections.values()].map(connection => [connection.name, connection.kind]),
    [
      ['old', 'postgres'],
      ['new', 'postgres']
    ]
  );
});

test('a Trino connection: its settings from warden.yaml, the password from the environment, refusals with file and line', () => {
  const caFile = join(demo.configDir, 'trino-ca.pem');
  writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\n');
  process.env.WARDEN_TEST_TRINO_PASSWORD = 'trino secret';
  const lake = (settings: string) => `connections:\n  lake: { kind: trino, user: warden, catalog: lake, ${settings} }\n`;
  const config = loadConfig(withSettings(lake('url: "https://trino.example:8443/", password_env: WARDEN_TEST_TRINO_PASSWORD, ca_file: trino-ca.pem, request_timeout_ms: 5000')));
  assert.deepEqual(config.settings.connections.get('lake'), {
    kind: 'trino', name: 'lake', url: 'https://trino.example:8443', user: 'warden', password: 'trino secret', ca: '-----BEGIN CERTIFICATE-----\n', catalog: 'lake', requestTimeoutMs: 5000, retries: 2
  });
  const refusals: [string, RegExp][] = [
    ['url: "http://trino.example:8080", password_env: WARDEN_TEST_TRINO_PASSWORD', /connections\.lake\.url|a password is only sent over HTTPS: use an https:\/\/ url/],
    ['url: "https://trino.example", password_env: WARDEN_TEST_TRINO_UNSET', /the environment variable WARDEN_TEST_TRINO_UNSET is not set/],
    ['url: "https://trino.example", ca_file: missing.pem', /cannot read ca_file: ENOENT/],
    ['url: "trino.example:8443"', /connections\.lake\.url: /],
    ['url: "https://trino.example", retries: -1', /connections\.lake\.retries: must be >= 0/],
    ['url: "https://trino.example", host: h', /connections\.lake: unknown key "host"/]
  ];
  for (const [settings, problem] of refusals) {
    const error = loadError(withSettings(lake(settings)));
    assert.match(error.problem, problem, settings);
    assert.ok(error.file.endsWith('warden.yaml') && error.line > 0, settings);
  }
  const tables = 'datasets:\n  - name: x.y\n    source: { format: trino, connection: lake, table: "drug_xyz.trial; DROP" }\n';
  assert.match(loadError(withSettings(lake('url: "https://trino.example"'), tables)).problem, /datasets\.0\.source\.table: .*schema\.table or catalog\.schema\.table/);
});

test('an unknown engine kind, or a file source naming a connection, is refused', () => {
  assert.match(loadError(withSettings('connections:\n  lake: { kind: spark, host: h }\n')).problem, /connections\.lake\.kind: must be one of "postgres"/);
  const catalog = 'datasets:\n  - name: x.y\n    source: { format: parquet, connection: c, table: t }\n';
  assert.match(loadError(withSettings('connections:\n  c: { host: h, database: d, user: u }\n', catalog)).problem, /datasets\.0\.source: (missing "path"|unknown key "connection")/);
});

test('a source column named like a mask indicator is refused at start-up', async () => {
  writeFileSync(join(demo.lakeDir, 'reserved.csv'), `id,${MASK_INDICATOR_PREFIX}x\n1,true\n`);
  const config = withSettings('', 'datasets:\n  - name: x.reserved\n    source: { format: csv, path: reserved.csv }\n');
  await assert.rejects(
    WardenService.start(config, quietLogger),
    (error: unknown) => error instanceof ConfigError && error.message.includes(`column "${MASK_INDICATOR_PREFIX}x" starts with ${MASK_INDICATOR_PREFIX}`)
  );
});

test('dialects differ only where they must: the same masks, each dialect its own SQL', () => {
  const masks = (dialect: Dialect) => Object.keys(dialect.masks).sort();
  for (const dialect of [duckdbDialect, ...[...ENGINE_KINDS.values()].map(kind => kind.dialect)]) assert.deepEqual(masks(dialect), [...MASK_TYPES].sort(), dialect.name);
});
