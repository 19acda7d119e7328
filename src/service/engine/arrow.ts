/**
 * Builds Arrow record batches column by column, straight into Arrow's own buffer layout
 * (no row objects, no per-value conversion where the engine's memory already has Arrow's
 * layout). Engine adapters append either raw bytes (fixed-width values, UTF-8 strings) or
 * normalised values: dates as days since the epoch, timestamps as microseconds (bigint).
 */
import { Bool, Data, DataType, DateDay, Field, Float32, Float64, Int16, Int32, Int64, Int8, RecordBatch, Schema, Struct, TimestampMicrosecond, Uint16, Uint32, Uint64, Uint8, Utf8, makeData } from 'apache-arrow';
import { ARROW_META } from '../../common/api';
import { OutputColumn } from './compile';

export type ArrowKind =
  | 'utf8'
  | 'bool'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'float32'
  | 'float64'
  | 'date'
  | 'timestamp'
  | 'timestamptz';

export type ArrowValue = string | number | bigint | boolean | null;

type FixedKind = Exclude<ArrowKind, 'utf8' | 'bool'>;
type TypedArrayConstructor = new (buffer: ArrayBuffer, byteOffset?: number, length?: number) => ArrayLike<number | bigint> & { [i: number]: number | bigint };

const FIXED: Record<FixedKind, { type: () => DataType; array: TypedArrayConstructor; width: number }> = {
  int8: { type: () => new Int8(), array: Int8Array as never, width: 1 },
  int16: { type: () => new Int16(), array: Int16Array as never, width: 2 },
  int32: { type: () => new Int32(), array: Int32Array as never, width: 4 },
  int64: { type: () => new Int64(), array: BigInt64Array as never, width: 8 },
  uint8: { type: () => new Uint8(), array: Uint8Array as never, width: 1 },
  uint16: { type: () => new Uint16(), array: Uint16Array as never, width: 2 },
  uint32: { type: () => new Uint32(), array: Uint32Array as never, width: 4 },
  uint64: { type: () => new Uint64(), array: BigUint64Array as never, width: 8 },
  float32: { type: () => new Float32(), array: Float32Array as never, width: 4 },
  float64: { type: () => new Float64(), array: Float64Array as never, width: 8 },
  date: { type: () => new DateDay(), array: Int32Array as never, width: 4 },
  timestamp: { type: () => new TimestampMicrosecond(), array: BigInt64Array as never, width: 8 },
  timestamptz: { type: () => new TimestampMicrosecond('UTC'), array: BigInt64Array as never, width: 8 }
};

export function arrowType(kind: ArrowKind): DataType {
  if (kind === 'utf8') return new Utf8();
  if (kind === 'bool') return new Bool();
  return FIXED[kind].type();
}

/** Byte width of a fixed-width kind (0 for utf8, which is variable, and bool, which is bits). */
export function fixedWidth(kind: ArrowKind): number {
  return kind === 'utf8' || kind === 'bool' ? 0 : FIXED[kind].width;
}

const encoder = new TextEncoder();

/** A growable byte buffer. */
class Bytes {
  buffer: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.buffer = new Uint8Array(Math.max(capacity, 64));
  }

  reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < this.length + extra) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  append(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /**
   * The used part, for Arrow to own: a view, not a copy (the builder starts a new buffer
   * after a flush). It starts at offset 0 of its ArrayBuffer, so it is aligned for any type.
   */
  take(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

/** Accumulates one column of one record batch. */
export class ColumnBuilder {
  readonly type: DataType;
  readonly width: number;
  private validity!: Bytes;
  private nulls = 0;
  private rows = 0;
  /** Fixed-width values, or UTF-8 bytes for strings, or packed bits for booleans. */
  private values!: Bytes;
  private offsets!: Int32Array;

  /** Largest batch seen so far (rows, and bytes for strings): the next batch starts that big. */
  private rowsHint: number;
  private bytesHint = 0;

  constructor(
    readonly kind: ArrowKind,
    capacity: number
  ) {
    this.type = arrowType(kind);
    this.width = fixedWidth(kind);
    this.rowsHint = capacity;
    this.reset();
  }

  private reset(): void {
    const capacity = this.rowsHint;
    this.rows = 0;
    this.nulls = 0;
    this.validity = new Bytes((capacity + 7) >> 3);
    this.values = new Bytes(this.kind === 'utf8' ? Math.max(this.bytesHint, capacity * 16) : this.kind === 'bool' ? (capacity + 7) >> 3 : capacity * this.width);
    this.offsets = new Int32Array(this.kind === 'utf8' ? capacity + 1 : 0);
  }

  get length(): number {
    return this.rows;
  }

  /** Bytes the column holds so far (values, offsets, validity). */
  get byteLength(): number {
    return this.values.length + (this.kind === 'utf8' ? (this.rows + 1) * 4 : 0) + this.validity.length;
  }

  private setValid(row: number, valid: boolean): void {
    this.validity.reserve(((row + 8) >> 3) - this.validity.length);
    this.validity.length = Math.max(this.validity.length, (row >> 3) + 1);
    if (valid) {
      this.validity.buffer[row >> 3] |= 1 << (row & 7);
    } else {
      this.validity.buffer[row >> 3] &= ~(1 << (row & 7));
      this.nulls++;
    }
  }

  /**
   * Appends `rows` fixed-width values from memory already in Arrow's layout, with an
   * Arrow-ordered validity bitmap (`null` when all are valid).
   */
  appendFixed(data: Uint8Array, rows: number, validity: Uint8Array | null): void {
    const start = this.rows;
    this.values.reserve(rows * this.width);
    this.values.buffer.set(data.subarray(0, rows * this.width), this.values.length);
    this.values.length += rows * this.width;
    this.appendValidity(start, rows, validity);
    this.rows += rows;
  }

  /** Copies validity bits for rows [start, start + rows); byte-aligned starts copy whole bytes. */
  private appendValidity(start: number, rows: number, validity: Uint8Array | null): void {
    const endByte = (start + rows + 7) >> 3;
    this.validity.reserve(endByte - this.validity.length);
    if (!validity) {
      if ((start & 7) === 0) {
        this.validity.buffer.fill(0xff, start >> 3, endByte);
        const tail = (start + rows) & 7;
        if (tail) this.validity.buffer[endByte - 1] = (1 << tail) - 1;
      } else {
        for (let row = start; row < start + rows; row++) this.validity.buffer[row >> 3] |= 1 << (row & 7);
      }
    } else if ((start & 7) === 0) {
      this.validity.buffer.set(validity.subarray(0, (rows + 7) >> 3), start >> 3);
      // Bits past the last row may be set in the source: clear them so they do not leak into the next append.
      const tail = (start + rows) & 7;
      if (tail) this.validity.buffer[(start + rows) >> 3] &= (1 << tail) - 1;
      for (let i = 0; i < rows; i++) if (!(validity[i >> 3] & (1 << (i & 7)))) this.nulls++;
    } else {
      for (let i = 0; i < rows; i++) this.setValid(start + i, (validity[i >> 3] & (1 << (i & 7))) !== 0);
    }
    this.validity.length = Math.max(this.validity.length, endByte);
  }

  /** Appends one UTF-8 string given as bytes (null for a missing value). */
  appendUtf8(bytes: Uint8Array | null): void {
    const row = this.rows++;
    this.setValid(row, bytes !== null);
    if (bytes) this.values.append(bytes);
    this.growOffsets(row + 1);
    this.offsets[row + 1] = this.values.length;
  }

  /**
   * Bulk string appends, for engines that hand out whole vectors: room for `rows` more
   * strings holding `bytes` UTF-8 bytes in all. The caller then writes the bytes into
   * `utf8Data` from `utf8Length` on, the end offset of each new row into `utf8Offsets`
   * (at indexes `length + 1` to `length + rows`; a null row repeats the previous offset),
   * and calls `commitUtf8`.
   */
  reserveUtf8(rows: number, bytes: number): void {
    this.values.reserve(bytes);
    this.growOffsets(this.rows + rows + 1);
  }

  get utf8Data(): Uint8Array {
    return this.values.buffer;
  }

  get utf8Offsets(): Int32Array {
    return this.offsets;
  }

  get utf8Length(): number {
    return this.values.length;
  }

  /** Completes a bulk append of `rows` strings ending at byte `end`, with an Arrow-ordered validity bitmap (`null`: all valid). */
  commitUtf8(rows: number, end: number, validity: Uint8Array | null): void {
    this.appendValidity(this.rows, rows, validity);
    this.rows += rows;
    this.values.length = end;
  }

  private growOffsets(needed: number): void {
    if (needed < this.offsets.length) return;
    const grown = new Int32Array(Math.max(needed + 1, this.offsets.length * 2));
    grown.set(this.offsets);
    this.offsets = grown;
  }

  /** Appends one normalised value (the generic, slower path). */
  append(value: ArrowValue): void {
    if (this.kind === 'utf8') {
      this.appendUtf8(value === null ? null : encoder.encode(String(value)));
      return;
    }
    const row = this.rows++;
    this.setValid(row, value !== null);
    if (this.kind === 'bool') {
      this.values.reserve(((row + 8) >> 3) - this.values.length);
      this.values.length = Math.max(this.values.length, (row >> 3) + 1);
      if (value === true) this.values.buffer[row >> 3] |= 1 << (row & 7);
      return;
    }
    const spec = FIXED[this.kind as FixedKind];
    this.values.reserve(this.width);
    const view = new spec.array(this.values.buffer.buffer as ArrayBuffer, this.values.buffer.byteOffset + this.values.length, 1);
    const big = spec.array === (BigInt64Array as never) || spec.array === (BigUint64Array as never);
    view[0] = value === null ? (big ? 0n : 0) : big ? BigInt(value as number | bigint) : Number(value);
    this.values.length += this.width;
  }

  /** Emits the column as Arrow Data and starts afresh. */
  flush(): Data {
    const length = this.rows;
    const nullCount = this.nulls;
    const nullBitmap = nullCount ? this.validity.take() : undefined;
    this.rowsHint = Math.max(this.rowsHint, length);
    let data: Data;
    if (this.kind === 'utf8') {
      this.bytesHint = Math.max(this.bytesHint, this.values.length);
      data = makeData({ type: this.type as Utf8, length, nullCount, nullBitmap, valueOffsets: this.offsets.subarray(0, length + 1), data: this.values.take() });
    } else if (this.kind === 'bool') {
      this.values.reserve(((length + 7) >> 3) - this.values.length);
      this.values.length = (length + 7) >> 3;
      data = makeData({ type: this.type as Bool, length, nullCount, nullBitmap, data: this.values.take() });
    } else {
      const bytes = this.values.take();
      const spec = FIXED[this.kind as FixedKind];
      data = makeData({ type: this.type, length, nullCount, nullBitmap, data: new spec.array(bytes.buffer as ArrayBuffer, 0, length) } as never);
    }
    this.reset();
    return data;
  }
}

/** The Arrow schema of a scan: a field per output column, saying how Warden changed it (or, on an indicator, which column it marks). */
export function scanSchema(columns: OutputColumn[], kinds: ArrowKind[], metadata: Map<string, string>): Schema {
  const fields = columns.map((column, i) => {
    if (column.indicatorFor !== undefined) {
      return new Field(column.name, arrowType(kinds[i]), true, new Map([[ARROW_META.indicatorFor, column.indicatorFor]]));
    }
    const fieldMetadata = new Map<string, string>([[ARROW_META.access, column.access]]);
    if (column.mask) fieldMetadata.set(ARROW_META.mask, column.mask);
    if (column.cellMasked) fieldMetadata.set(ARROW_META.cellMasked, 'true');
    return new Field(column.name, arrowType(kinds[i]), true, fieldMetadata);
  });
  return new Schema(fields, metadata);
}

export function recordBatch(schema: Schema, builders: ColumnBuilder[]): RecordBatch {
  const length = builders[0]?.length ?? 0;
  const children = builders.map(builder => builder.flush());
  const data = makeData({ type: new Struct(schema.fields), length, nullCount: 0, children });
  return new RecordBatch(schema, data);
}
