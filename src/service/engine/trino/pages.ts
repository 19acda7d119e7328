/**
 * Trino's result pages read straight from their bytes into Arrow builders. A page is JSON,
 * `{"id":...,"columns":[...],"data":[[row],[row]...],"stats":{...}}`: the `data` rows are
 * walked byte by byte, strings copied as the UTF-8 they already are (JSON.parse would make a
 * JS string of each, to be encoded back), numbers and dates read from their digits; only the
 * small rest of the page goes through JSON.parse.
 */
import { ArrowKind, ColumnBuilder, fixedWidth } from '../arrow';
import { daysFromCivil, decodeDate, decodeTimestamp } from './decode';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const DATA_KEY = Buffer.from('"data":');
const DATA_END = Buffer.from('],"stats":');

/** A page's bytes and where its first row starts. */
export interface RawPage {
  body: Buffer;
  rows: number;
}

/** Whether the last string stringEnd went through had an escape in it. */
let escaped = false;

/** The end (exclusive) of the JSON string whose opening quote is at `at` (most are short: a loop, not a native search). */
function stringEnd(body: Buffer, at: number): number {
  escaped = false;
  for (let i = at + 1; i < body.length; i++) {
    const byte = body[i];
    if (byte === QUOTE) return i + 1;
    if (byte === BACKSLASH) {
      escaped = true;
      i++;
    }
  }
  throw new Error('Trino sent a page with an unterminated string');
}

/** The end (exclusive) of the JSON array or object opening at `at`. */
function nestedEnd(body: Buffer, at: number): number {
  let depth = 0;
  for (let i = at; i < body.length; i++) {
    const byte = body[i];
    if (byte === QUOTE) i = stringEnd(body, i) - 1;
    else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) depth++;
    else if ((byte === CLOSE_BRACKET || byte === CLOSE_BRACE) && --depth === 0) return i + 1;
  }
  throw new Error('Trino sent a page with an unterminated array');
}

/**
 * The page without its rows, parsed, and where the rows start (-1: none). Trino writes `data`
 * after `id`, the URIs and `columns` (whose strings are skipped whole) and before `stats`. A
 * quote inside a JSON string is always escaped, so `],"stats":` can only be where the rows end.
 */
export function splitPage(body: Buffer): { header: unknown; rows: number } {
  let depth = 0;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (byte === QUOTE) {
      if (depth === 1 && body.compare(DATA_KEY, 0, DATA_KEY.length, i, i + DATA_KEY.length) === 0) {
        const rows = i + DATA_KEY.length;
        const end = body.indexOf(DATA_END, rows) + 1;
        if (end === 0) break;
        // The key and its array out, with the comma before it (`data` is never first).
        const header = body.toString('utf8', 0, body.lastIndexOf(COMMA, i)) + body.toString('utf8', end);
        return { header: JSON.parse(header), rows: rows + 1 };
      }
      i = stringEnd(body, i) - 1;
    } else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) depth++;
    else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) depth--;
  }
  return { header: JSON.parse(body.toString('utf8')), rows: -1 };
}

const ARRAYS: Partial<Record<ArrowKind, new (length: number) => { [i: number]: number | bigint; buffer: ArrayBufferLike }>> = {
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  float32: Float32Array,
  float64: Float64Array,
  date: Int32Array,
  timestamp: BigInt64Array,
  timestamptz: BigInt64Array
};

const POWERS_OF_TEN = Array.from({ length: 23 }, (_, k) => 10 ** k);

/**
 * A number written as `[-]digits[.digits]` with at most 15 digits, or NaN for anything else.
 * Then the digits are an exact integer and 10^k an exact double, so one division gives the
 * correctly rounded value, as Number() of the text would.
 */
function shortDecimal(body: Buffer, start: number, end: number): number {
  const negative = body[start] === 0x2d;
  let digits = 0;
  let value = 0;
  let point = -1;
  for (let i = negative ? start + 1 : start; i < end; i++) {
    const byte = body[i];
    if (byte === 0x2e && point === -1) {
      point = i;
      continue;
    }
    const digit = byte - 48;
    if (digit < 0 || digit > 9 || ++digits > 15) return NaN;
    value = value * 10 + digit;
  }
  if (digits === 0) return NaN;
  const scaled = point === -1 ? value : value / POWERS_OF_TEN[end - point - 1];
  return negative ? -scaled : scaled;
}

/**
 * Rows of pages into the builders of one record batch. Fixed-width values gather in typed
 * arrays handed to the builders whole (`flush`); strings and booleans go to the builders as read.
 */
export class PageDecoder {
  readonly builders: ColumnBuilder[];
  private readonly values: ({ [i: number]: number | bigint; buffer: ArrayBufferLike } | undefined)[];
  /** Per string column: its UTF-8 bytes so far and the end offset of each row. */
  private readonly text: ({ bytes: Uint8Array; length: number; ends: Int32Array } | undefined)[];
  private readonly validity: Uint8Array[];
  private rows = 0;

  constructor(
    private readonly kinds: ArrowKind[],
    private readonly batchRows: number,
    private readonly batchBytes: number
  ) {
    this.builders = kinds.map(kind => new ColumnBuilder(kind, 1024));
    this.values = kinds.map(kind => (ARRAYS[kind] ? new ARRAYS[kind]!(batchRows) : undefined));
    this.text = kinds.map(kind => (kind === 'utf8' ? { bytes: new Uint8Array(64 * 1024), length: 0, ends: new Int32Array(batchRows) } : undefined));
    this.validity = kinds.map(() => new Uint8Array((batchRows + 7) >> 3));
  }

  /** Rows decoded since the last flush. */
  get length(): number {
    return this.rows;
  }

  /** Bytes the batch holds so far. */
  get byteLength(): number {
    return this.kinds.reduce((sum, kind, c) => sum + (this.text[c]?.length ?? 0) + this.rows * (kind === 'utf8' ? 4 : fixedWidth(kind)), 0);
  }

  /** Whether the batch is full: by rows, or by bytes (looked at every 1,024 rows, for wide text). */
  get full(): boolean {
    return this.rows >= this.batchRows || ((this.rows & 1023) === 0 && this.rows > 0 && this.byteLength >= this.batchBytes);
  }

  /**
   * Decodes rows from `at` (the `[` of a row, or the `]` closing the rows) until the batch is
   * full or the rows end; returns where it stopped (-1: at the end of the rows).
   */
  decode(body: Buffer, at: number): number {
    let i = at;
    while (body[i] === OPEN_BRACKET && !this.full) {
      i++;
      for (let c = 0; c < this.kinds.length; c++) {
        i = this.value(body, i, c) + 1; // past the comma or the row's closing bracket
      }
      this.rows++;
      if (body[i] === COMMA) i++;
    }
    return body[i] === OPEN_BRACKET ? i : -1;
  }

  /** Reads the value of column `c` of the current row at `at`; returns its end. */
  private value(body: Buffer, at: number, c: number): number {
    const kind = this.kinds[c];
    const row = this.rows;
    const first = body[at];
    if (first === 0x6e) {
      // null
      this.setNull(c, row);
      return at + 4;
    }
    let end: number;
    if (kind === 'utf8') {
      if (first === QUOTE) {
        end = stringEnd(body, at);
        if (escaped) {
          const unescaped = Buffer.from(JSON.parse(body.toString('utf8', at, end)) as string);
          this.appendText(c, row, unescaped, 0, unescaped.length);
        } else {
          this.appendText(c, row, body, at + 1, end - 1);
        }
      } else {
        // Arrays, maps and rows as their JSON; numbers as written.
        end = first === OPEN_BRACKET || first === OPEN_BRACE ? nestedEnd(body, at) : this.scalarEnd(body, at);
        this.appendText(c, row, body, at, end);
      }
      this.validity[c][row >> 3] |= 1 << (row & 7);
    } else if (kind === 'bool') {
      this.builders[c].append(first === 0x74);
      end = at + (first === 0x74 ? 4 : 5);
    } else {
      const quoted = first === QUOTE;
      end = quoted ? stringEnd(body, at) : this.scalarEnd(body, at);
      const start = quoted ? at + 1 : at;
      const stop = quoted ? end - 1 : end;
      this.values[c]![row] = this.fixed(body, start, stop, kind);
      this.validity[c][row >> 3] |= 1 << (row & 7);
    }
    return end;
  }

  /** Copies bytes [start, end) of `source` as the string of column `c` in `row`. */
  private appendText(c: number, row: number, source: Uint8Array, start: number, end: number): void {
    const text = this.text[c]!;
    const length = text.length + end - start;
    if (length > text.bytes.length) {
      const grown = new Uint8Array(Math.max(length, text.bytes.length * 2));
      grown.set(text.bytes.subarray(0, text.length));
      text.bytes = grown;
    }
    const bytes = text.bytes;
    let at = text.length;
    // Most strings are short: a loop beats a native call per string.
    if (end - start < 64) for (let i = start; i < end; i++) bytes[at++] = source[i];
    else bytes.set(source.subarray(start, end), at);
    text.length = length;
    text.ends[row] = length;
  }

  private scalarEnd(body: Buffer, at: number): number {
    let end = at;
    while (end < body.length && body[end] !== COMMA && body[end] !== CLOSE_BRACKET) end++;
    return end;
  }

  private fixed(body: Buffer, start: number, end: number, kind: ArrowKind): number | bigint {
    switch (kind) {
      case 'date':
        // yyyy-mm-dd, read from its digits; other years through the text.
        if (end - start === 10 && body[start + 4] === 0x2d && body[start + 7] === 0x2d) {
          const digit = (at: number) => body[at] - 48;
          return daysFromCivil(digit(start) * 1000 + digit(start + 1) * 100 + digit(start + 2) * 10 + digit(start + 3), digit(start + 5) * 10 + digit(start + 6), digit(start + 8) * 10 + digit(start + 9));
        }
        return decodeDate(body.toString('latin1', start, end));
      case 'timestamp':
      case 'timestamptz':
        return decodeTimestamp(body.toString('utf8', start, end));
      case 'int64': {
        const value = shortDecimal(body, start, end);
        return Number.isNaN(value) ? BigInt(body.toString('latin1', start, end)) : BigInt(value);
      }
      default: {
        // Doubles as numbers, or "NaN", "Infinity", "-Infinity"; decimals as strings.
        const value = shortDecimal(body, start, end);
        return Number.isNaN(value) ? Number(body.toString('latin1', start, end)) : value;
      }
    }
  }

  private setNull(c: number, row: number): void {
    const text = this.text[c];
    if (text) text.ends[row] = text.length;
    if (this.kinds[c] === 'bool') this.builders[c].append(null);
    else this.validity[c][row >> 3] &= ~(1 << (row & 7));
  }

  /** Hands the gathered values to the builders: they then hold the whole batch. */
  flush(): void {
    const rows = this.rows;
    this.kinds.forEach((kind, c) => {
      if (kind === 'bool') return;
      const bits = this.validity[c];
      let allValid = true;
      for (let row = 0; row < rows && allValid; row++) allValid = (bits[row >> 3] & (1 << (row & 7))) !== 0;
      const validity = allValid ? null : bits.slice(0, (rows + 7) >> 3);
      const builder = this.builders[c];
      const text = this.text[c];
      if (text) {
        builder.reserveUtf8(rows, text.length);
        const base = builder.utf8Length;
        builder.utf8Data.set(text.bytes.subarray(0, text.length), base);
        const offsets = builder.utf8Offsets;
        for (let row = 0; row < rows; row++) offsets[builder.length + 1 + row] = base + text.ends[row];
        builder.commitUtf8(rows, base + text.length, validity);
        text.length = 0;
      } else {
        builder.appendFixed(new Uint8Array(this.values[c]!.buffer, 0, rows * fixedWidth(kind)), rows, validity);
      }
      bits.fill(0);
    });
    this.rows = 0;
  }
}
