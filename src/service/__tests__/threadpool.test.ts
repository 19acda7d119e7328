/**
 * libuv's thread pool of the service as it ships (the bundle, scripts/build-service.mjs): 32
 * threads, sized before DuckDB's bindings load (they use the pool as they load), so that four
 * large scans, each holding a pool thread while DuckDB produces its next chunk, leave room for
 * previews, their JWT checks and the audit log's writes (src/service/threadpool.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { api, demoLake, rows, spawnService } from './helpers';

const BUNDLE = resolve('warden', 'service', 'warden-service.cjs');
const TRIAL = 'drug_xyz.trial_july2020';

let demo: Awaited<ReturnType<typeof demoLake>>;
before(async () => {
  assert.ok(existsSync(BUNDLE), `${BUNDLE} is missing: run \`npm run build:service\` first`);
  demo = await demoLake(200);
});
after(() => demo.remove());

/** The threads of a bundled service after it answered a preview as alice (checked to be her view). */
async function threadsAfterPreview(threadPoolSize: string | undefined): Promise<number> {
  const inherited = process.env.UV_THREADPOOL_SIZE;
  if (threadPoolSize === undefined) delete process.env.UV_THREADPOOL_SIZE;
  else process.env.UV_THREADPOOL_SIZE = threadPoolSize;
  const service = await spawnService(demo.configDir, { bundle: BUNDLE }).finally(() => {
    if (inherited === undefined) delete process.env.UV_THREADPOOL_SIZE;
    else process.env.UV_THREADPOOL_SIZE = inherited;
  });
  try {
    const response = await api(`${service.url}/datasets/${TRIAL}/preview?limit=10`, 'alice');
    assert.equal(response.status, 200);
    const preview = rows(tableFromIPC(new Uint8Array(await response.arrayBuffer())));
    assert.equal(preview.length, 10);
    assert.deepEqual(new Set(preview.map(row => row.country)), new Set(['US']));
    return readdirSync(`/proc/${service.child.pid}/task`).length;
  } finally {
    await service.stop();
  }
}

test('the bundled service runs libuv\'s pool at 32 threads unless told otherwise', async () => {
  // The same service with libuv's default pool: every other thread (V8's, DuckDB's) is the same.
  const sized = await threadsAfterPreview(undefined);
  const libuvDefault = await threadsAfterPreview('4');
  assert.equal(sized - libuvDefault, 32 - 4);
});
