/**
 * The adversarial suite's bypass cases (adversarial-bypass.ts) against the Trino engine: the
 * demo lake's July 2020 trial read by the service from its Iceberg table on the running
 * cluster, the raw rows from the Parquet file they were loaded from. Run through
 * scripts/trino/test.sh.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Row, TRIAL, bypassCases } from './adversarial-bypass';
import { tableFromIPC } from 'apache-arrow';
import { RunningService, api, rows, startService, trustTokenClaims } from './helpers';
import { writeSummary } from './ledger';
import { TrinoClient } from '../engine/trino';
import { trinoConnectionFromEnv } from '../demo/trino-lake';
import { demoOnTrino, loaderClient, queriesWithClientInfo, query } from './trino-support';
import { REQUEST_ID_HEADER } from '../../common/api';

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

describe("Trino's query history", () => {
  test('the masking key bound into the service\'s queries is seen by the lake\'s owner only, not by another Trino user', async () => {
    // carlos (a contractor) gets participant ids tokenized: the token key is a bound value of
    // the query Trino runs, so Trino's query history holds it.
    const answer = await fetchScan('carlos');
    const tokens = answer.table.map(row => String(row.participant_id));
    assert.ok(tokens.length > 0 && tokens.every(token => /^tok_[0-9a-f]{16}$/.test(token)), 'carlos gets tokens');
    const loader = loaderClient();
    const analyst = new TrinoClient(trinoConnectionFromEnv('analyst'));
    try {
      const seenByOwner = await queriesWithClientInfo(loader, answer.requestId);
      const keys = seenByOwner.flatMap(info => info.query.match(/'[0-9a-f]{64}'/g) ?? []).map(literal => literal.slice(1, -1));
      assert.ok(keys.length > 0, "the lake's owner sees the service's query and the key bound into it (what the rules must keep from others)");

      const listed = JSON.parse((await analyst.request('GET', '/v1/query', undefined, {}, AbortSignal.timeout(10_000))).body.toString('utf8')) as { queryId: string; query: string; session: { user: string } }[];
      assert.deepEqual(listed.filter(info => info.session.user !== 'analyst'), [], "the analyst's query list holds only the analyst's own queries");
      for (const { queryId } of seenByOwner) {
        const direct = await analyst.request('GET', `/v1/query/${encodeURIComponent(queryId)}`, undefined, {}, AbortSignal.timeout(10_000));
        assert.ok(direct.status === 403 || direct.status === 404, `the analyst cannot open warden's query ${queryId}: HTTP ${direct.status}`);
        assert.ok(!keys.some(key => direct.body.toString('utf8').includes(key)));
      }
      const history = await query(analyst, 'SELECT "user", query FROM system.runtime.queries');
      assert.deepEqual(history.filter(([user]) => user !== 'analyst'), [], 'system.runtime.queries shows the analyst only their own queries');
      assert.ok(!history.some(([, text]) => keys.some(key => String(text).includes(key))));
    } finally {
      loader.close();
      analyst.close();
    }
  });
});

/** A scan of the trial as `user`, with the request id the service gave it. */
async function fetchScan(user: string): Promise<{ table: Row[]; requestId: string }> {
  const response = await api(`${running.url}/datasets/${encodeURIComponent(TRIAL)}/scan`, user, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ columns: ['participant_id'], limit: 20 })
  });
  assert.equal(response.status, 200, await response.clone().text());
  const requestId = response.headers.get(REQUEST_ID_HEADER) ?? '';
  assert.match(requestId, /\S/, 'the service names its request');
  return { table: rows(tableFromIPC(new Uint8Array(await response.arrayBuffer()))) as Row[], requestId };
}
