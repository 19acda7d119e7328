// Runs the service's tests (src/service/__tests__/*.test.ts) with Node's test runner and tsx.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dir = 'src/service/__tests__';
const only = process.argv.slice(2);
// Arguments select files by a part of their name or path (`registries`, `src/service/__tests__/api.test.ts`).
const files = readdirSync(dir)
  .filter(name => name.endsWith('.test.ts'))
  .map(name => join(dir, name))
  .filter(path => only.length === 0 || only.some(part => path.includes(part)))
  .sort();
if (files.length === 0) {
  console.error(`run-node-tests: no test file in ${dir} matches ${only.join(', ')}`);
  process.exit(2);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
