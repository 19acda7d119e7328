import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MaskSpec } from '../../common/api';
import { Policy } from '../policy/types';
import { decide } from '../policy/decide';
import { describeExpression } from '../policy/describe';
import { parseExpression } from '../policy/parse';

const origin = { file: 'test.yaml', line: 1 };
const dataset = {
  name: 'drug_xyz.trial_july2020',
  tags: ['clinical'],
  columns: [
    { name: 'participant_id', tags: ['pii.id'] },
    { name: 'ssn', tags: ['pii.direct', 'pii.ssn'] },
    { name: 'email', tags: ['pii.direct'] },
    { name: 'country', tags: [] },
    { name: 'adverse_events', tags: [] }
  ]
};
const alice = { user: 'alice', groups: ['analysts'], attributes: { region: 'US' } };
const pat = { user: 'pat', groups: ['privacy-officers'], attributes: {} };
const eve = { user: 'eve', groups: [], attributes: {} };

const grant: Policy = { name: 'grant-clinical', effect: 'grant', datasets: { tags: ['clinical'] }, principals: { groups: ['analysts', 'privacy-officers'] }, origin };

function mask(name: string, columns: { names?: string[]; tags?: string[] }, maskSpec: MaskSpec, extra: Partial<Policy> = {}): Policy {
  return { name, effect: 'column_mask', datasets: { names: ['drug_xyz.*'] }, principals: { everyone: true }, columns, mask: maskSpec, origin, ...extra } as Policy;
}

test('no grant: denied; a grant: allowed with every column clear', () => {
  assert.deepEqual(decide(eve, dataset, [grant]), { allowed: false, denial: 'no grant matches', rowFilters: [], columns: [], policies: [] });
  const decision = decide(alice, dataset, [grant]);
  assert.equal(decision.allowed, true);
  assert.deepEqual(decision.columns.map(c => c.effect.access), ['clear', 'clear', 'clear', 'clear', 'clear']);
  assert.deepEqual(decision.policies, ['grant-clinical']);
});

test('a deny wins over any grant, whatever the order', () => {
  const deny: Policy = { name: 'deny-alice', effect: 'deny', datasets: { names: ['drug_*'] }, principals: { users: ['alice'] }, origin };
  assert.equal(decide(alice, dataset, [deny, grant]).denial, 'denied by policy deny-alice');
  assert.equal(decide(alice, dataset, [grant, deny]).allowed, false);
  assert.equal(decide(pat, dataset, [grant, deny]).allowed, true);
});

test('the most restrictive column mask wins, and says which policy and tag decided', () => {
  const decision = decide(alice, dataset, [
    grant,
    mask('ssn-last4', { tags: ['pii.ssn'] }, { type: 'show_last', n: 4 }),
    mask('pii-hash', { tags: ['pii.direct'] }, { type: 'hash' }),
    mask('email-domain', { names: ['email'] }, { type: 'email_domain' })
  ]);
  const ssn = decision.columns.find(c => c.name === 'ssn')!;
  assert.deepEqual(ssn.mask, { type: 'hash' });
  assert.equal(ssn.effect.policy, 'pii-hash');
  assert.equal(ssn.effect.reason, 'tag pii.direct');
  assert.equal(ssn.effect.description, 'keyed SHA-256 hash (per dataset)');
  const email = decision.columns.find(c => c.name === 'email')!;
  assert.equal(email.effect.policy, 'pii-hash');
  // The masks pii-hash overrode did not shape the view: they are not listed.
  assert.deepEqual(decision.policies, ['grant-clinical', 'pii-hash']);
});

test('ties between equally restrictive masks go to the policy listed first', () => {
  const decision = decide(alice, dataset, [grant, mask('first', { names: ['ssn'] }, { type: 'show_last', n: 4 }), mask('second', { names: ['ssn'] }, { type: 'show_first', n: 2 })]);
  assert.equal(decision.columns.find(c => c.name === 'ssn')!.effect.policy, 'first');
});

test('hide drops the column and its cell masks; exceptions exempt principals', () => {
  const policies = [
    grant,
    mask('hide-pii', { tags: ['pii.direct'] }, { type: 'hide' }, { unless: { groups: ['privacy-officers'] } }),
    { name: 'cell', effect: 'cell_mask', datasets: { tags: ['clinical'] }, principals: { everyone: true }, columns: { names: ['ssn', 'adverse_events'] }, mask: { type: 'null' }, when: parseExpression("country = 'DE'"), origin } as Policy
  ];
  const forAlice = decide(alice, dataset, policies);
  assert.deepEqual(forAlice.policies, ['grant-clinical', 'hide-pii', 'cell']);
  assert.equal(forAlice.columns.find(c => c.name === 'ssn')!.effect.access, 'hidden');
  assert.deepEqual(forAlice.columns.find(c => c.name === 'ssn')!.cellMasks, []);
  const events = forAlice.columns.find(c => c.name === 'adverse_events')!;
  assert.equal(events.effect.access, 'clear');
  assert.deepEqual(events.effect.cellMasks, [{ policy: 'cell', mask: { type: 'null' }, description: 'replaced by NULL', condition: "country = 'DE'" }]);
  const forPat = decide(pat, dataset, policies);
  assert.equal(forPat.columns.find(c => c.name === 'ssn')!.effect.access, 'clear');
  assert.equal(forPat.columns.find(c => c.name === 'ssn')!.cellMasks.length, 1);
});

test('a pattern matches names with line breaks too: a column named so cannot slip past a mask on `*`', () => {
  // Source column names are the source's: Parquet allows any text, line breaks included.
  const sneaky = { ...dataset, columns: [...dataset.columns, { name: 'notes\nssn', tags: [] }] };
  const policies = [grant, mask('hide-all', { names: ['*'] }, { type: 'hide' }), mask('redact-notes', { names: ['notes?ssn'] }, { type: 'redact' })];
  const column = decide(alice, sneaky, policies).columns.find(c => c.name === 'notes\nssn')!;
  assert.equal(column.effect.access, 'hidden');
  assert.equal(decide(alice, sneaky, [grant, policies[2]]).columns.find(c => c.name === 'notes\nssn')!.effect.access, 'masked');
});

test('row filters are AND-ed and bound to the principal', () => {
  const filter = (name: string, text: string): Policy => ({ name, effect: 'row_filter', datasets: { tags: ['clinical'] }, principals: { groups: ['analysts'] }, filter: parseExpression(text), origin });
  const decision = decide(alice, dataset, [grant, filter('own-region', 'country = user.region'), filter('no-withdrawn', "adverse_events IS NOT NULL")]);
  assert.deepEqual(decision.rowFilters.map(f => [f.policy, describeExpression(f.expr)]), [
    ['own-region', "country = 'US'"],
    ['no-withdrawn', 'adverse_events IS NOT NULL']
  ]);
  assert.deepEqual(decide(pat, dataset, [grant, filter('own-region', 'country = user.region')]).rowFilters, []);
});

test('principal selectors: users, groups, attributes (all listed must match)', () => {
  const byAttribute: Policy = { name: 'us-high', effect: 'grant', datasets: { tags: ['clinical'] }, principals: { attributes: { region: ['US', 'CA'], clearance: 'high' } }, origin };
  assert.equal(decide({ ...eve, attributes: { region: 'US', clearance: 'high' } }, dataset, [byAttribute]).allowed, true);
  assert.equal(decide({ ...eve, attributes: { region: 'US' } }, dataset, [byAttribute]).allowed, false);
  assert.equal(decide({ ...eve, attributes: { region: 'DE', clearance: 'high' } }, dataset, [byAttribute]).allowed, false);
});

test('a policy that reads a column the dataset lacks fails closed', () => {
  const broken: Policy = { name: 'broken', effect: 'row_filter', datasets: { tags: ['clinical'] }, principals: { everyone: true }, filter: parseExpression("region = 'US'"), origin };
  const decision = decide(alice, dataset, [grant, broken]);
  assert.equal(decision.allowed, false);
  assert.match(decision.denial!, /policy broken reads column "region"/);
});

test('a list attribute compared with = fails closed instead of matching everything', () => {
  const filter: Policy = { name: 'bad-list', effect: 'row_filter', datasets: { tags: ['clinical'] }, principals: { everyone: true }, filter: parseExpression('country = user.groups'), origin };
  const decision = decide(alice, dataset, [grant, filter]);
  assert.equal(decision.allowed, false);
  assert.match(decision.denial!, /user.groups is a list/);
});

test('decide is pure: same input, same output, inputs untouched', () => {
  const policies = [grant, mask('m', { names: ['ssn'] }, { type: 'hash' })];
  const before = JSON.stringify(policies);
  assert.deepEqual(decide(alice, dataset, policies), decide(alice, dataset, policies));
  assert.equal(JSON.stringify(policies), before);
});
