/**
 * Mask indicators in the Arrow answer (MASK_INDICATOR_PREFIX in common/api.ts): per row, whether
 * a cell mask withheld a column's value, checked against the raw data. With indicators a
 * withheld cell is NULL in the column's own type; without, it is the cell mask's value.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Table, tableFromIPC } from 'apache-arrow';
import { ARROW_META, MASK_INDICATOR_PREFIX } from '../../common/api';
import { compileScan } from '../engine/compile';
import { duckdbDialect } from '../engine/duckdb';
import { Decision } from '../policy/decide';
import { parseExpression } from '../policy/parse';
import { RunningService, api, demoLake, rows, scan, startService } from './helpers';

const TRIAL = 'drug_xyz.trial_july2020';
const INDICATOR = `${MASK_INDICATOR_PREFIX}adverse_events`;
type Row = Record<string, unknown>;

let demo: Awaited<ReturnType<typeof demoLake>>;
let running: RunningService;
let raw: Row[];

before(async () => {
  demo = await demoLake(5_000);
  running = await startService(demo.configDir);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const reader = await connection.runAndReadAll('SELECT participant_id, country, arm, adverse_events FROM read_parquet($1)', [join(demo.lakeDir, 'drug_xyz/trial_july2020.parquet')]);
  raw = reader.getRowObjectsJS() as Row[];
  connection.closeSync();
  instance.closeSync();
});

after(async () => {
  await running.close();
  demo.remove();
});

const fieldNames = (table: Table) => table.schema.fields.map(field => field.name);

test('a scan asking for indicators gets one per cell-masked column, true exactly where the cell mask withheld a NULL', async () => {
  const table = await scan(running.url, 'alice', TRIAL, { maskIndicators: true });
  const names = fieldNames(table);
  assert.equal(names[names.length - 1], INDICATOR, 'indicators follow the data columns');
  assert.equal(names.filter(name => name.startsWith(MASK_INDICATOR_PREFIX)).length, 1);
  assert.deepEqual(Object.fromEntries(table.schema.fields.find(field => field.name === INDICATOR)!.metadata), { [ARROW_META.indicatorFor]: 'adverse_events' });

  // alice sees US rows; the blinded-placebo-events policy masks adverse events of placebo rows.
  const expected = raw.filter(row => row.country === 'US');
  const received = rows(table);
  assert.equal(received.length, expected.length);
  let masked = 0;
  received.forEach((row, i) => {
    const placebo = expected[i].arm === 'placebo';
    assert.equal(row[INDICATOR], placebo, `row ${i}`);
    assert.equal(row.adverse_events, placebo ? null : expected[i].adverse_events, `row ${i}`);
    if (placebo) masked++;
  });
  assert.ok(masked > 0 && masked < received.length, 'some rows masked, some not');
});

test('without asking, a scan has no indicator columns and masked cells carry the mask value (clients that predate them see no change)', async () => {
  const table = await scan(running.url, 'alice', TRIAL, {});
  assert.deepEqual(fieldNames(table).filter(name => name.startsWith(MASK_INDICATOR_PREFIX)), []);
  const placebo = raw.filter(row => row.country === 'US').map(row => row.arm === 'placebo');
  assert.deepEqual(
    rows(table).map(row => row.adverse_events === '[blinded]'),
    placebo
  );
});

test('indicators follow the projection and the caller cannot filter on them', async () => {
  const projected = await scan(running.url, 'alice', TRIAL, { columns: ['participant_id', 'adverse_events'], filter: "arm = 'placebo'", maskIndicators: true });
  assert.deepEqual(fieldNames(projected), ['participant_id', 'adverse_events', INDICATOR]);
  assert.ok(rows(projected).every(row => row[INDICATOR] === true && row.adverse_events === null));
  const without = await scan(running.url, 'alice', TRIAL, { columns: ['participant_id'], maskIndicators: true });
  assert.deepEqual(fieldNames(without), ['participant_id']);
  const response = await api(`${running.url}/datasets/${TRIAL}/scan`, 'alice', { method: 'POST', body: JSON.stringify({ filter: `"${INDICATOR}" = true` }) });
  assert.equal(response.status, 400);
  assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'unknown_column');
});

test('a preview always carries the indicators', async () => {
  const response = await api(`${running.url}/datasets/${TRIAL}/preview?limit=50`, 'alice');
  const table = tableFromIPC(new Uint8Array(await response.arrayBuffer()));
  const expected = raw.filter(row => row.country === 'US').slice(0, 50);
  assert.deepEqual(
    rows(table).map(row => row[INDICATOR]),
    expected.map(row => row.arm === 'placebo')
  );
  // pat has no cell masks: no indicator columns.
  const pat = tableFromIPC(new Uint8Array(await (await api(`${running.url}/datasets/${TRIAL}/preview?limit=5`, 'pat')).arrayBuffer()));
  assert.deepEqual(fieldNames(pat).filter(name => name.startsWith(MASK_INDICATOR_PREFIX)), []);
});

test('a cell mask that a more restrictive column mask makes moot marks no cell', () => {
  const decision: Decision = {
    allowed: true,
    rowFilters: [],
    policies: [],
    columns: [
      {
        name: 'ssn',
        mask: { type: 'hash' },
        cellMasks: [{ policy: 'weak', mask: { type: 'show_last', n: 4 }, when: parseExpression('TRUE') }],
        effect: { access: 'masked', description: '', cellMasks: [] }
      }
    ]
  };
  const compiled = compileScan(decision, [{ name: 'ssn', type: 'VARCHAR' }], { indicators: true }, duckdbDialect, { hash: 'h', token: 't' }, () => 'people');
  assert.deepEqual(
    compiled.columns.map(column => [column.name, column.type, column.indicatorFor]),
    [
      ['ssn', 'VARCHAR', undefined],
      [`${MASK_INDICATOR_PREFIX}ssn`, 'BOOLEAN', 'ssn']
    ]
  );
  assert.match(compiled.sql, new RegExp(`FALSE AS "${MASK_INDICATOR_PREFIX}ssn"`));
});

test("a withheld cell keeps its column's type, where the mask value would have turned the column into text", () => {
  const decision: Decision = {
    allowed: true,
    rowFilters: [],
    policies: [],
    columns: [
      {
        name: 'enrolled_on',
        cellMasks: [{ policy: 'late', mask: { type: 'redact', value: '[late]' }, when: parseExpression("enrolled_on > DATE '2020-07-15'") }],
        effect: { access: 'clear', description: '', cellMasks: [] }
      },
      {
        name: 'date_of_birth',
        mask: { type: 'year_only' },
        cellMasks: [{ policy: 'minors', mask: { type: 'null' }, when: parseExpression("date_of_birth > DATE '2005-01-01'") }],
        effect: { access: 'masked', description: '', cellMasks: [] }
      }
    ]
  };
  const source = [
    { name: 'enrolled_on', type: 'DATE' },
    { name: 'date_of_birth', type: 'DATE' }
  ];
  const keys = { hash: 'h', token: 't' };
  const typesOf = (indicators: boolean) => compileScan(decision, source, { indicators }, duckdbDialect, keys, () => 'people').columns.map(column => [column.name, column.type]);
  assert.deepEqual(typesOf(true), [
    ['enrolled_on', 'DATE'],
    ['date_of_birth', 'INTEGER'],
    [`${INDICATOR.replace('adverse_events', 'enrolled_on')}`, 'BOOLEAN'],
    [`${MASK_INDICATOR_PREFIX}date_of_birth`, 'BOOLEAN']
  ]);
  assert.deepEqual(typesOf(false).slice(0, 2), [
    ['enrolled_on', 'VARCHAR'],
    ['date_of_birth', 'VARCHAR']
  ]);
});

test('previews and scans with indicators of a typed cell-masked column stay typed, withheld cells NULL', async () => {
  // The demo's enrolment date, cell-masked for alice where the trial arm is placebo.
  const dir = demo.configDir;
  const policy = join(dir, 'policies', 'zz-typed-cells.yaml');
  writeFileSync(
    policy,
    ['policies:', '  - name: withhold-placebo-enrolment', '    effect: cell_mask', '    datasets: { names: [drug_xyz.trial_july2020] }', '    principals: { users: [alice] }', '    columns: { names: [enrolled_on] }', "    when: arm = 'placebo'", "    mask: { type: redact, value: '[withheld]' }", ''].join('\n')
  );
  try {
    await running.service.reload();
    const table = await scan(running.url, 'alice', TRIAL, { columns: ['arm', 'enrolled_on'], maskIndicators: true });
    assert.equal(String(table.schema.fields[1].type), 'Date32<DAY>');
    const received = rows(table);
    assert.ok(received.length > 0);
    for (const row of received) {
      const withheld = row.arm === 'placebo';
      assert.equal(row[`${MASK_INDICATOR_PREFIX}enrolled_on`], withheld);
      assert.equal(row.enrolled_on === null, withheld);
    }
  } finally {
    rmSync(policy);
    await running.service.reload();
  }
});
