/** Trino's types as Arrow kinds, and its dates and timestamps (as its protocol writes them) as Arrow values. */
import { ArrowKind } from '../arrow';

const KIND_BY_TYPE: [RegExp, ArrowKind][] = [
  [/^boolean$/, 'bool'],
  [/^tinyint$/, 'int8'],
  [/^smallint$/, 'int16'],
  [/^integer$/, 'int32'],
  [/^bigint$/, 'int64'],
  [/^real$/, 'float32'],
  [/^double$/, 'float64'],
  // As DuckDB's DECIMAL: exact decimals become doubles on the wire.
  [/^decimal\b/, 'float64'],
  [/^date$/, 'date'],
  [/^timestamp\(\d+\) with time zone$/, 'timestamptz'],
  [/^timestamp\(\d+\)$/, 'timestamp']
];

/** The Arrow kind of a Trino type; anything else (arrays, maps, json...) goes as text. */
export function kindOf(type: string): ArrowKind {
  return KIND_BY_TYPE.find(([pattern]) => pattern.test(type))?.[1] ?? 'utf8';
}

/** Days since 1970-01-01 of a proleptic Gregorian date (any year). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  return era * 146_097 + yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear - 719_468;
}

const DATE = /^(-?\d+)-(\d\d)-(\d\d)$/;
/** `yyyy-mm-dd` with a four-digit year, the common case, read without a regular expression. */
const digit = (text: string, at: number) => text.charCodeAt(at) - 48;
const TIMESTAMP = /^(-?\d+)-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?: (UTC|Z|[+-]\d\d:\d\d))?$/;

export function decodeDate(text: string): number {
  if (text.length === 10 && text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45) {
    const year = digit(text, 0) * 1000 + digit(text, 1) * 100 + digit(text, 2) * 10 + digit(text, 3);
    const month = digit(text, 5) * 10 + digit(text, 6);
    const day = digit(text, 8) * 10 + digit(text, 9);
    if (year >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= 31) return daysFromCivil(year, month, day);
  }
  const match = DATE.exec(text);
  if (!match) throw new Error(`unexpected date from Trino: ${text}`);
  return daysFromCivil(Number(match[1]), Number(match[2]), Number(match[3]));
}

/** Microseconds since the epoch; digits past microseconds are dropped (Arrow here is µs, as DuckDB's). */
export function decodeTimestamp(text: string): bigint {
  const match = TIMESTAMP.exec(text);
  if (!match) throw new Error(`unexpected timestamp from Trino (only UTC offsets are read): ${text}`);
  const [, year, month, day, hours, minutes, seconds, fraction = '', zone] = match;
  let offset = 0;
  if (zone && zone !== 'UTC' && zone !== 'Z') {
    offset = (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(4, 6)) * 60);
  }
  const secondsSinceEpoch = daysFromCivil(Number(year), Number(month), Number(day)) * 86_400 + Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds) - offset;
  return BigInt(secondsSinceEpoch) * 1_000_000n + BigInt(fraction.slice(0, 6).padEnd(6, '0'));
}
