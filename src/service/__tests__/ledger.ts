/**
 * The adversarial suite's ledger: every attack records whether it leaked and how many audit
 * records it lost; the summary table is printed at the end and kept in docs/adversarial.md.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AttackResult {
  category: string;
  attack: string;
  tries: number;
  leaks: number;
  auditLost: number;
  note: string;
}

const results: AttackResult[] = [];

export function record(result: AttackResult): void {
  results.push(result);
}

export function summary(): string {
  const total = (key: 'tries' | 'leaks' | 'auditLost') => results.reduce((sum, result) => sum + result[key], 0);
  const lines = [
    '| category | attack | tries | leaks | audit records lost | what happened |',
    '| --- | --- | ---: | ---: | ---: | --- |',
    ...results.map(r => `| ${r.category} | ${r.attack} | ${r.tries} | ${r.leaks} | ${r.auditLost} | ${r.note.replace(/\|/g, '\\|')} |`),
    `| **total** | ${results.length} attacks | ${total('tries')} | ${total('leaks')} | ${total('auditLost')} | |`
  ];
  return lines.join('\n');
}

/** Prints the table; with WARDEN_ADVERSARIAL_DOC=1 also writes it to docs/adversarial.md. */
export function writeSummary(command: string): void {
  const table = summary();
  console.log(`\nAdversarial summary\n${table}\n`);
  if (process.env.WARDEN_ADVERSARIAL_DOC !== '1') return;
  const doc = [
    '# Adversarial and fault suite',
    '',
    'Each row is an attack that tries to get data out that a principal may not see, to forge an',
    'identity, or to lose audit records. A leak is any value, row, count or existence signal the',
    'principal should not get.',
    '',
    `Produced by \`${command}\` on ${new Date().toISOString().slice(0, 10)}:`,
    '',
    table,
    '',
    'The Jupyter side is attacked in `tests/python/test_jupyter_integration.py` (run by `bash scripts/test.sh`):',
    'a browser request that carries its own `Authorization` header (even a validly signed token for',
    'another user) is forwarded with the Jupyter user\'s identity only; unauthenticated and',
    'cross-site (no XSRF token) requests are refused by Jupyter; kernels never see the signing secret.',
    'Identity is also unit-tested in `src/service/__tests__/identity.test.ts` (RS256/ES256 with a JWKS).',
    ''
  ].join('\n');
  writeFileSync(join(__dirname, '../../../docs/adversarial.md'), doc);
}
