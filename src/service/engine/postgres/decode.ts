/** PostgreSQL's text output decoded for Arrow: no Date objects, so the service's time zone never shifts a value. */
import pg from 'pg';
import { ArrowKind, ArrowValue } from '../arrow';

const { builtins } = pg.types;
export const KIND_BY_TYPE_OID = new Map<number, ArrowKind>([
  [builtins.BOOL, 'bool'],
  [builtins.INT2, 'int16'],
  [builtins.INT4, 'int32'],
  [builtins.INT8, 'int64'],
  [builtins.FLOAT4, 'float32'],
  [builtins.FLOAT8, 'float64'],
  // As DuckDB's DECIMAL: exact decimals become doubles on the wire.
  [builtins.NUMERIC, 'float64'],
  [builtins.DATE, 'date'],
  [builtins.TIMESTAMP, 'timestamp'],
  [builtins.TIMESTAMPTZ, 'timestamptz']
]);

/**
 * Every value arrives as PostgreSQL's text and is decoded here for its Arrow kind: no Date
 * objects, so nothing is shifted by the service's local time zone. Other types stay text.
 */
export const RAW_TEXT = { getTypeParser: () => (text: string) => text } as unknown as pg.CustomTypesConfig;

/** DuckDB's day numbers for infinite dates and timestamps, so both engines send the same values. */
const INFINITE_DAYS = 2_147_483_647;
const INFINITE_MICROS = 9_223_372_036_854_775_807n;

/** Days since 1970-01-01 of a proleptic Gregorian date (any year, astronomical numbering). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

const DATE = /^(\d+)-(\d\d)-(\d\d)( BC)?$/;
const TIMESTAMP = /^(\d+)-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?( BC)?$/;

function days(year: string, month: string, day: string, bc: string | undefined): number {
  // PostgreSQL counts 1 BC, 2 BC...; astronomically those are years 0, -1...
  return daysFromCivil(bc ? 1 - Number(year) : Number(year), Number(month), Number(day));
}

function decodeDate(text: string): number {
  if (text === 'infinity') return INFINITE_DAYS;
  if (text === '-infinity') return -INFINITE_DAYS;
  const match = DATE.exec(text);
  if (!match) throw new Error(`unexpected date from PostgreSQL: ${text}`);
  return days(match[1], match[2], match[3], match[4]);
}

function decodeTimestamp(text: string): bigint {
  if (text === 'infinity') return INFINITE_MICROS;
  if (text === '-infinity') return -INFINITE_MICROS;
  const match = TIMESTAMP.exec(text);
  if (!match) throw new Error(`unexpected timestamp from PostgreSQL: ${text}`);
  const [, year, month, day, hours, minutes, seconds, fraction = '', sign, offsetHours = '0', offsetMinutes = '0', offsetSeconds = '0', bc] = match;
  const offset = (sign === '-' ? -1 : 1) * (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60 + Number(offsetSeconds));
  const secondsSinceEpoch = days(year, month, day, bc) * 86_400 + Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds) - offset;
  return BigInt(secondsSinceEpoch) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
}

export function decode(text: string | null, kind: ArrowKind): ArrowValue {
  if (text === null) return null;
  switch (kind) {
    case 'bool':
      return text === 't';
    case 'int64':
      return BigInt(text);
    case 'int16':
    case 'int32':
    case 'float32':
    case 'float64':
      return Number(text);
    case 'date':
      return decodeDate(text);
    case 'timestamp':
    case 'timestamptz':
      return decodeTimestamp(text);
    default:
      return text;
  }
}
