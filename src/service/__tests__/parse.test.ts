import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpressionError, parseExpression } from '../policy/parse';
import { describeExpression } from '../policy/describe';
import { bindUser, BindError } from '../policy/bind';
import { columnsOf } from '../policy/ast';

test('parses comparisons, IN, LIKE, IS NULL, NOT and precedence', () => {
  const expr = parseExpression("country = 'US' AND (age >= 18 OR arm IN ('placebo', 'control')) AND NOT site IS NULL");
  assert.equal(describeExpression(expr), "country = 'US' AND (age >= 18 OR arm IN ('placebo', 'control')) AND NOT site IS NULL");
  assert.deepEqual([...columnsOf(expr)].sort(), ['age', 'arm', 'country', 'site']);
});

test('OR binds looser than AND', () => {
  const expr = parseExpression('a = 1 OR b = 2 AND c = 3');
  assert.equal(expr.kind, 'or');
  assert.equal(describeExpression(expr), 'a = 1 OR b = 2 AND c = 3');
});

test('literals: strings with doubled quotes, negative numbers, booleans, NULL, dates', () => {
  const expr = parseExpression("name = 'O''Brien' AND x > -1.5e2 AND ok = TRUE AND y IS NOT NULL AND d < DATE '2020-07-01'");
  assert.equal(describeExpression(expr), "name = 'O''Brien' AND x > -150 AND ok = TRUE AND y IS NOT NULL AND d < DATE '2020-07-01'");
});

test('quoted column names keep spaces, quotes and unicode', () => {
  const expr = parseExpression('"first name" = \'x\' AND "we""ird" != \'y\' AND "prénom" <> \'z\'');
  assert.deepEqual([...columnsOf(expr)].sort(), ['first name', 'prénom', 'we"ird']);
});

test('user attributes and NOT IN / NOT LIKE', () => {
  const expr = parseExpression("country IN user.countries AND region = user.region AND name NOT LIKE 'A%' AND arm NOT IN ('x')");
  assert.equal(describeExpression(expr), "country IN user.countries AND region = user.region AND name NOT LIKE 'A%' AND arm NOT IN ('x')");
});

for (const [input, reason, position] of [
  ["country = 'US", 'unterminated string literal', 11],
  ['country =', 'expression ends where a value or column name was expected', 10],
  ['country = US AND', 'expression ends where a value or column name was expected', 17],
  ['a = 1 b = 2', "unexpected 'b' after a complete expression", 7],
  ['a IN (1, 2', "expected ')' before the end", 11],
  ['a ; DROP TABLE x', "unexpected character ';'", 3],
  ['', 'empty expression', 1],
  ['a = AND', 'expected a value or column name, found keyword AND', 5],
  ["d = DATE '07/01/2020'", "expected a date like '2020-07-01' after DATE", 10],
  ['a NOT = 1', 'expected IN or LIKE after NOT', 7],
  ['a ! 1', "unexpected '!' (did you mean '!='?)", 3]
] as const) {
  test(`rejects ${JSON.stringify(input)} with a clear message`, () => {
    assert.throws(
      () => parseExpression(input),
      (error: unknown) => {
        assert.ok(error instanceof ExpressionError);
        assert.equal(error.reason, reason);
        assert.equal(error.position + 1, position);
        return true;
      }
    );
  });
}

test('refuses pathological nesting instead of overflowing the stack', () => {
  assert.throws(() => parseExpression('('.repeat(1000) + 'a = 1' + ')'.repeat(1000)), /nested deeper than 64 levels/);
});

test('binding user attributes: scalars, lists, missing values', () => {
  const principal = { user: 'alice', groups: ['analysts'], attributes: { region: 'US', countries: ['US', 'CA'] } };
  const bound = bindUser(parseExpression('country = user.region AND site IN user.countries AND owner = user.name AND x = user.missing'), principal);
  assert.equal(describeExpression(bound), "country = 'US' AND site IN ('US', 'CA') AND owner = 'alice' AND x = NULL");
  assert.equal(describeExpression(bindUser(parseExpression("'analysts' IN user.groups"), principal)), "'analysts' IN ('analysts')");
  assert.throws(() => bindUser(parseExpression('country = user.countries'), principal), BindError);
});

test('numbers out of range are refused rather than becoming Infinity', () => {
  assert.throws(() => parseExpression('x > 1e309'), /number 1e309 is out of range at position 5/);
  assert.throws(() => parseExpression('x > -1e309'), /number 1e309 is out of range at position 6/);
  assert.throws(() => parseExpression('units = 9223372036854775807'), /number 9223372036854775807 is too large to compare exactly.* at position 9/);
  assert.throws(() => parseExpression('units > 99999999999999999999999999'), /too large to compare exactly/);
  assert.doesNotThrow(() => parseExpression('units = -9007199254740991 OR ratio < 1.5e-3'));
});
