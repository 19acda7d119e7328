/** Property-based fuzzing (fast-check) of the expression parser and the policy loader, run by the adversarial suite. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError, loadConfig } from '../config/load';
import { ExpressionError, parseExpression } from '../policy/parse';
import { describeExpression } from '../policy/describe';
import { tempDir } from './helpers';
import { record } from './ledger';

const RUNS = 3000;

/** Text that looks like expressions: keywords, operators, quotes and junk mixed together. */
const expressionish = fc
  .array(
    fc.oneof(
      fc.constantFrom('AND', 'OR', 'NOT', 'IN', 'IS', 'NULL', 'LIKE', 'TRUE', 'DATE', 'user.', 'user.region', '(', ')', ',', '=', '!=', '<>', '<=', '>', "'", '"', "''", '--', ';', '-', '.', ' '),
      fc.string({ maxLength: 6 }),
      fc.integer().map(String),
      fc.constantFrom('country', '"odd col"', "'US'", "'O''Brien'", '1e309', '.5')
    ),
    { maxLength: 30 }
  )
  .map(parts => parts.join(' '));

/** The parser never crashes or hangs: any input parses or raises a clear ExpressionError. */
export function fuzzParser(): void {
  let failures = 0;
  fc.assert(
    fc.property(fc.oneof(expressionish, fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 100 })), input => {
      const started = performance.now();
      try {
        const expr = parseExpression(input);
        // Whatever parses renders back to text that parses to the same tree.
        assert.deepEqual(parseExpression(describeExpression(expr)), expr);
      } catch (error) {
        if (!(error instanceof ExpressionError)) {
          failures++;
          throw error;
        }
        assert.ok(error.reason.length > 0 && error.position >= 0 && error.position <= input.length, `unclear error for ${JSON.stringify(input)}`);
      }
      assert.ok(performance.now() - started < 100, `slow parse of ${JSON.stringify(input)}`);
    }),
    { numRuns: RUNS }
  );
  record({ category: 'fuzz', attack: 'random text into the expression parser (fast-check)', tries: RUNS, leaks: failures, auditLost: 0, note: 'every input parsed (and round-tripped) or raised ExpressionError with a position, each < 100 ms' });
}

const policyish = fc.record(
  {
    name: fc.oneof(fc.constantFrom('p1', 'p 2', ''), fc.string({ maxLength: 8 })),
    effect: fc.oneof(fc.constantFrom('grant', 'deny', 'row_filter', 'column_mask', 'cell_mask'), fc.string({ maxLength: 5 })),
    datasets: fc.oneof(fc.constant({ tags: ['clinical'] }), fc.constant({ names: [] }), fc.anything({ maxDepth: 2 })),
    principals: fc.oneof(fc.constant({ everyone: true }), fc.constant({ groups: ['a'] }), fc.anything({ maxDepth: 2 })),
    filter: fc.oneof(expressionish, fc.anything({ maxDepth: 1 })),
    columns: fc.oneof(fc.constant({ names: ['ssn'] }), fc.anything({ maxDepth: 2 })),
    mask: fc.oneof(fc.constantFrom({ type: 'hash' }, { type: 'show_last', n: 4 }, { type: 'show_last' }, { type: 'bucket', width: -1 }), fc.anything({ maxDepth: 2 })),
    when: expressionish
  },
  { requiredKeys: [] }
);

/** The policy loader never crashes: any policy file loads or raises a ConfigError with file and line. */
export function fuzzLoader(): void {
  const dir = tempDir('fuzz');
  const config = join(dir.path, 'config');
  mkdirSync(join(config, 'policies'), { recursive: true });
  mkdirSync(join(dir.path, 'lake'));
  writeFileSync(join(config, 'warden.yaml'), 'data_roots: [../lake]\nidentity: { audience: warden, hs256_secret_env: WARDEN_JWT_SECRET }\naudit: { path: ../audit.jsonl }\nmasking: { key_file: mask.key }\n');
  writeFileSync(join(config, 'mask.key'), 'k'.repeat(32));
  let failures = 0;
  try {
    fc.assert(
      fc.property(fc.oneof(fc.array(policyish, { maxLength: 4 }).map(policies => stringify({ policies })), fc.string({ maxLength: 300 }), fc.anything().map(value => stringify(value) ?? '')), text => {
        writeFileSync(join(config, 'policies/fuzz.yaml'), text);
        try {
          loadConfig(config);
        } catch (error) {
          if (!(error instanceof ConfigError)) {
            failures++;
            throw error;
          }
          assert.match(error.file, /fuzz\.yaml$/);
          assert.ok(error.line >= 1 && error.problem.length > 0);
        }
      }),
      { numRuns: 1500 }
    );
  } finally {
    dir.remove();
  }
  record({ category: 'fuzz', attack: 'random policy files into the loader (fast-check)', tries: 1500, leaks: failures, auditLost: 0, note: 'every file loaded or raised ConfigError with file and line' });
}
