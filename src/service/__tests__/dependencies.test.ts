/**
 * The import rules (.dependency-cruiser.cjs) hold for the sources, and fail on a cycle or on a
 * layer importing one above it: checked on a copy of the sources with one such import added.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from './helpers';

const ROOT = resolve(__dirname, '../../..');
const CLI = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

function cruise(cwd: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [CLI, '--config', join(ROOT, '.dependency-cruiser.cjs'), 'src'], { cwd, encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

/** The rules' verdict on a copy of src/ with `line` appended to one file. */
function cruiseWith(file: string, line: string): { status: number | null; output: string } {
  const dir = tempDir('deps');
  try {
    cpSync(join(ROOT, 'src'), join(dir.path, 'src'), { recursive: true, filter: source => !source.includes('__tests__') });
    appendFileSync(join(dir.path, 'src', file), `\n${line}\n`);
    return cruise(dir.path);
  } finally {
    dir.remove();
  }
}

test('the sources follow the import rules', () => {
  const { status, output } = cruise(ROOT);
  assert.equal(status, 0, output);
  assert.match(output, /no dependency violations found/);
});

test('a cycle between two modules is refused', () => {
  // parse.ts imports ast.ts; ast.ts importing parse.ts closes a cycle.
  const { status, output } = cruiseWith('service/policy/ast.ts', "export { parseExpression } from './parse';");
  assert.notEqual(status, 0);
  assert.match(output, /error no-circular: src\/service\/policy\/(ast|parse)\.ts/);
});

test('a layer importing one above it (a cycle between directories) is refused', () => {
  const { status, output } = cruiseWith('service/engine/sql.ts', "export type { DatasetConfig } from '../config/types';");
  assert.notEqual(status, 0);
  assert.match(output, /error layer-engine: src\/service\/engine\/sql\.ts → src\/service\/config\/types\.ts/);
});
