/**
 * The adversarial suite's bypass cases (adversarial-bypass.ts) against the Trino engine: the
 * demo lake's July 2020 trial read by the service from its Iceberg table on the running
 * cluster, the raw rows from the Parquet file they were loaded from. Run through
 * scripts/trino/test.sh.
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Row, TRIAL, bypassCases } from './adversarial-bypass';
import { RunningService, startService, trustTokenClaims } from './helpers';
import { writeSummary } from './ledger';
import { demoOnTrino } from './trino-support';

let demo: Awaited<ReturnType<typeof demoOnTrino>>;
let running: RunningService;
let raw: Row[];

before(async () => {
  demo = await demoOnTrino();
  // The attacks include what forged group and attribute claims could do.
  trustTokenClaims(demo.configDir);
  running = await startService(demo.configDir);
  assert.equal(running.service.catalog.get(TRIAL)!.engine.dialect.name, 'trino', 'the trial is read from Trino');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  raw = (await connection.runAndReadAll('SELECT * FROM read_parquet($1)', [join(demo.lakeDir, 'drug_xyz/trial_july2020.parquet')])).getRowObjectsJS() as Row[];
  connection.closeSync();
  instance.closeSync();
});

after(async () => {
  await running?.close();
  demo?.remove();
  writeSummary('bash scripts/trino/test.sh');
});

bypassCases('Trino', () => ({ url: running.url, raw, maskKey: running.service.config.settings.maskKey }));
