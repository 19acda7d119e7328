/**
 * Builds Arrow record batches column by column from engine values, straight into typed
 * buffers (no row objects). Engine adapters map their types to an ArrowKind and feed
 * normalised values: dates as days since the epoch, timestamps as microseconds (bigint).
 */
import {
  Bool,
  Data,
  DataType,
  DateDay,
  Field,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Int8,
  RecordBatch,
  Schema,
  Struct,
  TimestampMicrosecond,
  Uint16,
  Uint32,
  Uint64,
  Uint8,
  Utf8,
  makeData
} from 'apache-arrow';

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

const FIXED: Record<Exclude<ArrowKind, 'utf8' | 'bool'>, { type: () => DataType; array: new (n: number) => ArrayLike<unknown> }> = {
  int8: { type: () => new Int8(), array: Int8Array },
  int16: { type: () => new Int16(), array: Int16Array },
  int32: { type: () => new Int32(), array: Int32Array },
  int64: { type: () => new Int64(), array: BigInt64Array },
  uint8: { type: () => new Uint8(), array: Uint8Array },
  uint16: { type: () => new Uint16(), array: Uint16Array },
  uint32: { type: () => new Uint32(), array: Uint32Array },
  uint64: { type: () => new Uint64(), array: BigUint64Array },
  float32: { type: () => new Float32(), array: Float32Array },
  float64: { type: () => new Float64(), array: Float64Array },
  date: { type: () => new DateDay(), array: Int32Array },
  timestamp: { type: () => new TimestampMicrosecond(), array: BigInt64Array },
  timestamptz: { type: () => new TimestampMicrosecond('UTC'), array: BigInt64Array }
};

export function arrowType(kind: ArrowKind): DataType {
  if (kind === 'utf8') return new Utf8();
  if (kind === 'bool') return new Bool();
  return FIXED[kind].type();
}

const encoder = new TextEncoder();

/** Accumulates one column of one record batch. */
export class ColumnBuilder {
  private values: ArrowValue[] = [];
  readonly type: DataType;

  constructor(readonly kind: ArrowKind) {
    this.type = arrowType(kind);
  }

  push(value: ArrowValue): void {
    this.values.push(value);
  }

  get length(): number {
    return this.values.length;
  }

  /** Emits the column as Arrow Data and starts afresh. */
  flush(): Data {
    const values = this.values;
    this.values = [];
    const length = values.length;
    let nullCount = 0;
    const validity = new Uint8Array((length + 7) >> 3);
    for (let i = 0; i < length; i++) {
      if (values[i] === null) {
        nullCount++;
      } else {
        validity[i >> 3] |= 1 << (i & 7);
      }
    }
    const nullBitmap = nullCount ? validity : undefined;

    if (this.kind === 'utf8') {
      const offsets = new Int32Array(length + 1);
      const encoded: Uint8Array[] = new Array(length);
      let total = 0;
      for (let i = 0; i < length; i++) {
        const value = values[i];
        const bytes = value === null ? EMPTY : encoder.encode(String(value));
        encoded[i] = bytes;
        total += bytes.length;
        offsets[i + 1] = total;
      }
      const data = new Uint8Array(total);
      for (let i = 0; i < length; i++) {
        data.set(encoded[i], offsets[i]);
      }
      return makeData({ type: this.type as Utf8, length, nullCount, nullBitmap, valueOffsets: offsets, data });
    }
    if (this.kind === 'bool') {
      const bits = new Uint8Array((length + 7) >> 3);
      for (let i = 0; i < length; i++) {
        if (values[i] === true) bits[i >> 3] |= 1 << (i & 7);
      }
      return makeData({ type: this.type as Bool, length, nullCount, nullBitmap, data: bits });
    }
    const spec = FIXED[this.kind];
    const data = new spec.array(length) as unknown as { [i: number]: unknown };
    const isBig = spec.array === BigInt64Array || spec.array === BigUint64Array;
    for (let i = 0; i < length; i++) {
      const value = values[i];
      if (value !== null) {
        data[i] = isBig ? BigInt(value as number | bigint) : Number(value);
      }
    }
    return makeData({ type: this.type, length, nullCount, nullBitmap, data } as never);
  }
}

const EMPTY = new Uint8Array(0);

export interface ArrowColumn {
  name: string;
  kind: ArrowKind;
  metadata: Map<string, string>;
}

export function arrowSchema(columns: ArrowColumn[], metadata: Map<string, string>): Schema {
  return new Schema(
    columns.map(column => new Field(column.name, arrowType(column.kind), true, column.metadata)),
    metadata
  );
}

export function recordBatch(schema: Schema, builders: ColumnBuilder[]): RecordBatch {
  const length = builders[0]?.length ?? 0;
  const children = builders.map(builder => builder.flush());
  const data = makeData({ type: new Struct(schema.fields), length, nullCount: 0, children });
  return new RecordBatch(schema, data);
}
