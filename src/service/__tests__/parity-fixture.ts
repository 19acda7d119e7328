/**
 * The shared fixture of the engine parity tests: the same DDL and rows go into every engine
 * (Parquet through DuckDB, PostgreSQL, Trino), and every mask on every column must give the
 * same values and Arrow types on each (docs/engines.md).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataType, Table, makeVector } from 'apache-arrow';
import { DuckDBInstance } from '@duckdb/node-api';
import { MaskSpec } from '../../common/api';
import { MASKS as DECLARED_MASKS, MaskDeclaration } from '../../common/masks';

export const PEOPLE_DDL = `CREATE TABLE people (
  id INTEGER, name VARCHAR, email VARCHAR, ssn VARCHAR(11), dob DATE, seen_at TIMESTAMP, updated_at TIMESTAMPTZ,
  amount DECIMAL(10, 2), score DOUBLE PRECISION, visits BIGINT, active BOOLEAN, country VARCHAR)`;
const float = (text: string) => `CAST('${text}' AS DOUBLE PRECISION)`;
export const PEOPLE_ROWS = [
  `(1, 'Ann O''Neil', 'ann@example.com', '123-45-6789', DATE '1980-05-17', TIMESTAMP '2020-07-01 12:34:56.123456', TIMESTAMPTZ '2020-07-01 12:34:56.5+02', 1.50, ${float('81234.567')}, 12, TRUE, 'US')`,
  `(2, 'Zoë Ångström', 'zoe@corp.example.org', '987-65-4321', DATE '1969-12-31', TIMESTAMP '1969-12-31 23:59:59.5', TIMESTAMPTZ '2020-12-31 23:30:00-05', -0.05, ${float('45000')}, 3000000000, FALSE, 'DE')`,
  `(3, '李小龙', 'bruce@example.net', '555-12-0000', DATE '2000-02-29', TIMESTAMP '2021-01-01 00:00:00', TIMESTAMPTZ '1999-12-31 23:59:59.999999+00', 99999999.99, ${float('2.675')}, -7, TRUE, 'US')`,
  `(4, '😀 emoji', 'no-at-sign', '000-00-0001', DATE '1900-01-01', TIMESTAMP '1900-01-01 00:00:00.000001', TIMESTAMPTZ '2038-01-19 03:14:08+00', 0.00, ${float('-0.5')}, 0, FALSE, 'FR')`,
  `(5, '', 'e@x.io', '1', DATE '2020-07-01', TIMESTAMP '2020-07-01 00:00:00', TIMESTAMPTZ '2020-07-01 00:00:00+14', 12.345, ${float('0.049999999999999996')}, 9007199254740993, TRUE, 'US')`,
  `(6, 'trailing  ', 'a.b@c.d', '12-3456789', DATE '1999-01-01', TIMESTAMP '1999-01-01 01:02:03.4', TIMESTAMPTZ '1970-01-01 00:00:00+00', 7.77, ${float('1e20')}, 41, TRUE, 'US')`,
  `(7, 'Nan Float', 'nan@example.com', '222-22-2222', DATE '1985-06-15', TIMESTAMP '1985-06-15 06:15:00', TIMESTAMPTZ '1985-06-15 06:15:00+00', 1.01, ${float('NaN')}, 5, FALSE, 'US')`,
  `(8, 'Inf Float', 'inf@example.com', '333-33-3333', DATE '1975-03-03', TIMESTAMP '1975-03-03 03:03:03', TIMESTAMPTZ '1975-03-03 03:03:03+00', 2.02, ${float('Infinity')}, 6, TRUE, 'DE')`,
  `(9, 'Neg Zero', 'zero@example.com', '444-44-4444', DATE '1991-12-01', TIMESTAMP '1991-12-01 12:00:00', TIMESTAMPTZ '1991-12-01 12:00:00+00', -3.33, ${float('-0')}, -15, TRUE, 'US')`,
  `(10, 'Tiny Float', 'tiny@example.com', '666-66-6666', DATE '2010-10-10', TIMESTAMP '2010-10-10 10:10:10', TIMESTAMPTZ '2010-10-10 10:10:10+00', 4.44, ${float('1e-7')}, 25, FALSE, 'US')`,
  `(11, 'Whole Big', 'big@example.com', '777-77-7777', DATE '2011-11-11', TIMESTAMP '2011-11-11 11:11:11', TIMESTAMPTZ '2011-11-11 11:11:11+00', 5.55, ${float('1e15')}, 35, TRUE, 'US')`,
  `(12, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`
];
export const COLUMNS = ['id', 'name', 'email', 'ssn', 'dob', 'seen_at', 'updated_at', 'amount', 'score', 'visits', 'active', 'country'];

/** Every declared mask, by its example, and more parameters where rounding differs most. */
export const MASKS: [string, MaskSpec][] = [
  ...(Object.values(DECLARED_MASKS) as MaskDeclaration[]).filter(declaration => declaration.name !== 'hide').map(declaration => [declaration.name, declaration.example as MaskSpec] as [string, MaskSpec]),
  ['round_1', { type: 'round', digits: 1 }],
  ['round_2', { type: 'round', digits: 2 }],
  ['round_minus_2', { type: 'round', digits: -2 }],
  ['bucket_2_5', { type: 'bucket', width: 2.5 }]
];

export async function writeParquet(path: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(PEOPLE_DDL);
    await connection.run(`INSERT INTO people VALUES ${PEOPLE_ROWS.join(', ')}`);
    await connection.run(`COPY people TO '${path}' (FORMAT parquet)`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Every value of a table exactly as sent: timestamps as raw microseconds, not rounded milliseconds. */
export function exactColumns(table: Table): Record<string, unknown[]> {
  return Object.fromEntries(
    table.schema.fields.map((field, c) => {
      const values: unknown[] = [];
      for (const data of table.getChildAt(c)!.data) {
        const chunk = makeVector(data);
        for (let i = 0; i < chunk.length; i++) {
          values.push(!chunk.isValid(i) ? null : DataType.isTimestamp(field.type) ? data.values[i] : chunk.get(i));
        }
      }
      return [field.name, values];
    })
  );
}

export function describeSchema(table: Table): string[] {
  return table.schema.fields.map(field => `${field.name}: ${field.type} ${JSON.stringify(Object.fromEntries(field.metadata))}`);
}

/**
 * The users and policies of the parity tests, into a config directory (directory.yaml and
 * policies/parity.yaml): one user per mask with that mask on every column, an analyst with a
 * row filter, a column mask and cell masks, a user with hidden columns, and a compliance user.
 */
export function writeParityPolicies(dir: string): void {
  mkdirSync(join(dir, 'policies'), { recursive: true });
  const users = [...MASKS.map(([label]) => `  m_${label}: { groups: [maskers] }`), '  analyst: { groups: [analysts], attributes: { region: US } }', '  hider: { groups: [hiders] }', '  cora: { groups: [compliance] }'];
  writeFileSync(join(dir, 'directory.yaml'), `users:\n${users.join('\n')}\n`);
  const maskPolicies = MASKS.map(
    ([label, mask]) =>
      `  - name: mask-${label}\n    effect: column_mask\n    datasets: { names: [parity.*] }\n    principals: { users: [m_${label}] }\n    columns: { names: [${COLUMNS.join(', ')}] }\n    mask: ${JSON.stringify(mask)}\n`
  );
  writeFileSync(
    join(dir, 'policies', 'parity.yaml'),
    `policies:\n  - name: everyone-reads-parity\n    effect: grant\n    datasets: { names: [parity.*] }\n    principals: { everyone: true }\n    unless: { groups: [compliance] }\n` +
      maskPolicies.join('') +
      `  - name: analysts-own-region\n    effect: row_filter\n    datasets: { names: [parity.*] }\n    principals: { groups: [analysts] }\n    filter: country = user.region\n` +
      `  - name: analysts-ssn-last-four\n    effect: column_mask\n    datasets: { names: [parity.*] }\n    principals: { groups: [analysts] }\n    columns: { tags: [pii] }\n    mask: { type: show_last, n: 4 }\n` +
      `  - name: inactive-emails-redacted\n    effect: cell_mask\n    datasets: { names: [parity.*] }\n    principals: { groups: [analysts] }\n    columns: { names: [email, score] }\n    when: active = FALSE\n    mask: { type: redact }\n` +
      `  - name: hide-some\n    effect: column_mask\n    datasets: { names: [parity.*] }\n    principals: { groups: [hiders] }\n    columns: { names: [ssn, score] }\n    mask: { type: hide }\n`
  );
}
