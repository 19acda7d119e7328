import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { demoLake } from './helpers';

let demo: Awaited<ReturnType<typeof demoLake>>;
before(async () => {
  demo = await demoLake(50);
});
after(() => demo.remove());

test('with --exit-with-stdin the service exits when its parent goes away (stdin closes)', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/service/main.ts', '--config', demo.configDir, '--port', '0', '--exit-with-stdin'], {
    stdio: ['pipe', 'pipe', 'inherit']
  });
  await new Promise<void>(resolve => child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('listening on') && resolve()));
  const started = Date.now();
  child.stdin!.end();
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 5000);
});
