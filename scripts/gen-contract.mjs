// Writes warden/_contract.py, the Python side of the API contract, from src/common/api.ts:
// every exported constant that is plain data becomes a Python constant of the same name
// (lists become tuples; object keys that are whole numbers become int keys; functions and
// types are left out). Run through tsx, which loads the TypeScript module:
//
//   npx tsx scripts/gen-contract.mjs            # (re)write warden/_contract.py
//   npx tsx scripts/gen-contract.mjs --check    # exit 1 if the file is out of date
//   ... [--out PATH]                            # another file than warden/_contract.py
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as contract from '../src/common/api.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const COMMAND = 'npx tsx scripts/gen-contract.mjs';
const MAX_LINE = 99;

function literal(value) {
  if (typeof value === 'string') return JSON.stringify(value); // a valid Python str literal
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value === null) return 'None';
  if (Array.isArray(value)) {
    const items = value.map(literal);
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return `{${entries(value).join(', ')}}`;
  }
  throw new Error(`cannot write ${String(value)} as a Python literal`);
}

function entries(object) {
  return Object.entries(object).map(
    ([key, item]) => `${/^(0|[1-9]\d*)$/.test(key) ? key : JSON.stringify(key)}: ${literal(item)}`
  );
}

/** `NAME = value` on one line when it fits, else one item per line. */
function assignment(name, value) {
  const line = `${name} = ${literal(value)}`;
  if (line.length <= MAX_LINE || typeof value !== 'object' || value === null) return line;
  const [open, close, items] = Array.isArray(value)
    ? ['(', ')', value.map(literal)]
    : ['{', '}', entries(value)];
  return [`${name} = ${open}`, ...items.map(item => `    ${item},`), close].join('\n');
}

function render() {
  // tsx loads api.ts as CommonJS: its namespace also has `default`, the whole module.
  const names = Object.keys(contract).filter(
    name => name !== 'default' && typeof contract[name] !== 'function'
  );
  return [
    `# Generated from src/common/api.ts by \`${COMMAND}\`: do not edit.`,
    '# tests/python/test_contract.py fails while this file is out of date.',
    '"""The Warden API contract shared with the service and the JupyterLab extension."""',
    '',
    ...names.map(name => assignment(name, contract[name])),
    ''
  ].join('\n');
}

const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const target = outIndex >= 0 ? args[outIndex + 1] : join(ROOT, 'warden', '_contract.py');
const text = render();
if (args.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // A missing file is out of date too.
  }
  if (current !== text) {
    console.error(`${relative(process.cwd(), target)} is out of date with src/common/api.ts: run \`${COMMAND}\``);
    process.exit(1);
  }
  console.log(`${relative(process.cwd(), target)} is up to date`);
} else {
  writeFileSync(target, text);
  console.log(`wrote ${relative(process.cwd(), target)}`);
}
