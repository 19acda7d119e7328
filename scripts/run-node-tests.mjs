// Runs the service's tests (src/service/__tests__/*.test.ts) with Node's test runner and tsx.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dir = 'src/service/__tests__';
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter(name => name.endsWith('.test.ts'))
  .filter(name => only.length === 0 || only.some(part => name.includes(part)))
  .sort()
  .map(name => join(dir, name));
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
