/**
 * DuckDB chunks to Arrow record batches in C, off the JavaScript thread (native/arrow-batches.c).
 *
 * The addon is built by scripts/build-native.mjs (run by scripts/setup.sh and the service
 * bundle) against the libduckdb.so of @duckdb/node-bindings. Where it is missing or does not
 * load, or a result has a column type it does not convert, scans take the JavaScript path
 * (chunks.ts); `WARDEN_DUCKDB_ARROW=js` chooses that path on purpose (benchmarks, tests).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DuckDBDataChunk, DuckDBDecimalType, DuckDBResult, DuckDBType, DuckDBTypeId } from '@duckdb/node-api';
// Loaded first on purpose: the addon links to libduckdb.so by its soname, so it must find the
// library @duckdb/node-bindings already loaded (one DuckDB in the process), not another copy.
import bindings from '@duckdb/node-bindings';
import { Data, RecordBatch, Schema, Struct, makeData } from 'apache-arrow';
import { ArrowKind } from '../arrow';
import { SAME_LAYOUT, vectorWidth } from './chunks';

export const ADDON_FILE = 'warden_duckdb_arrow.node';

/** How arrow-batches.c converts a column (its `enum column_kind`). */
const enum NativeKind {
  Fixed = 0,
  Bool = 1,
  Utf8 = 2,
  Decimal = 3
}

interface Addon {
  open(result: unknown, spec: Int32Array, ended: boolean): object;
  append(scan: object, chunk: unknown): void;
  /** [rows, ended, then per column: nulls, validity (null when none), offsets, values] */
  fetch(scan: object, maxRows: number, maxBytes: number): Promise<(number | boolean | ArrayBuffer | null)[]>;
  mappedBytes(): number;
}

/** Where the addon may be: beside the service bundle, or in the source tree's build output. */
function addonPaths(): string[] {
  const paths = [join(__dirname, 'native', ADDON_FILE)];
  for (let dir = __dirname; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts', 'build-native.mjs'))) {
      paths.push(join(dir, 'build', 'native', ADDON_FILE));
      break;
    }
  }
  return paths;
}

/** The addon, or why it is not there (said once, at the first scan). */
let loaded: { addon?: Addon; problem?: string } | undefined;

function load(): { addon?: Addon; problem?: string } {
  if (loaded) return loaded;
  void bindings;
  const path = addonPaths().find(candidate => existsSync(candidate));
  if (!path) {
    loaded = { problem: `${ADDON_FILE} is not built (run scripts/setup.sh or node scripts/build-native.mjs)` };
  } else {
    try {
      const module = { exports: {} as Addon };
      process.dlopen(module, path);
      loaded = { addon: module.exports };
    } catch (error) {
      loaded = { problem: `${path} does not load: ${(error as Error).message}` };
    }
  }
  if (loaded.problem) {
    console.warn(`warden: DuckDB scans convert to Arrow in JavaScript, about 2x slower: ${loaded.problem}`);
  }
  return loaded;
}

/** The addon's loading problem, if any (for the service's start-up check and tests). */
export function nativeArrowProblem(): string | undefined {
  return load().problem;
}

/** Whether DuckDB scans convert in the addon: it loads, and `WARDEN_DUCKDB_ARROW=js` does not turn it off. */
export function nativeArrowChosen(): boolean {
  return process.env.WARDEN_DUCKDB_ARROW !== 'js' && load().addon !== undefined;
}

/** Bytes of Arrow buffers the addon holds: batches being built, or sent and not yet collected (0 without it). */
export function nativeArrowBytes(): number {
  return load().addon?.mappedBytes() ?? 0;
}

/** Bytes DuckDB uses for a DECIMAL of this many digits. */
function decimalStorage(width: number): number {
  return width <= 4 ? 2 : width <= 9 ? 4 : width <= 18 ? 8 : 16;
}

/** The addon's description of each column, or undefined when some type is not one it converts. */
function columnSpec(types: DuckDBType[]): Int32Array | undefined {
  const spec = new Int32Array(types.length * 4);
  for (let c = 0; c < types.length; c++) {
    const typeId = types[c].typeId;
    let fields: [NativeKind, number, number, number];
    if (SAME_LAYOUT.has(typeId)) fields = [NativeKind.Fixed, vectorWidth(typeId), 0, 0];
    else if (typeId === DuckDBTypeId.BOOLEAN) fields = [NativeKind.Bool, 1, 0, 0];
    else if (typeId === DuckDBTypeId.VARCHAR) fields = [NativeKind.Utf8, 16, 0, 0];
    else if (typeId === DuckDBTypeId.DECIMAL) {
      const { width, scale } = types[c] as DuckDBDecimalType;
      fields = [NativeKind.Decimal, decimalStorage(width), width, scale];
    } else return undefined;
    spec.set(fields, c * 4);
  }
  return spec;
}

/** Record batches of a result built by the addon, one `next` at a time. */
export class NativeBatches {
  private constructor(
    private readonly addon: Addon,
    private readonly scan: object,
    private readonly schema: Schema,
    private readonly kinds: ArrowKind[]
  ) {}

  /**
   * For a result whose columns the addon converts, when it is loaded and not turned off
   * (`WARDEN_DUCKDB_ARROW=js`); `probed` are chunks JavaScript fetched already, `ended` says
   * whether they were the last.
   */
  static open(result: DuckDBResult, probed: DuckDBDataChunk[], ended: boolean, schema: Schema, kinds: ArrowKind[]): NativeBatches | undefined {
    const spec = columnSpec(result.columnTypes());
    const { addon } = load();
    if (!spec || !addon || !nativeArrowChosen()) return undefined;
    const scan = addon.open((result as unknown as { result: unknown }).result, spec, ended);
    for (const chunk of probed) {
      addon.append(scan, chunk.chunk);
      // Done with it: the string heaps and buffers it pins go now.
      bindings.data_chunk_reset(chunk.chunk);
    }
    return new NativeBatches(addon, scan, schema, kinds);
  }

  /** The next batch of at least `rows` rows or `bytes` bytes (fewer at the end), null after the last. */
  async next(rows: number, bytes: number): Promise<{ batch: RecordBatch; bytes: number } | null> {
    const out = await this.addon.fetch(this.scan, rows, bytes);
    const length = out[0] as number;
    if (length === 0) return null;
    let total = 0;
    const children: Data[] = this.kinds.map((kind, c) => {
      const [nullCount, validity, offsets, values] = out.slice(2 + 4 * c, 6 + 4 * c) as [number, ArrayBuffer | null, ArrayBuffer, ArrayBuffer];
      total += values.byteLength + offsets.byteLength + (validity?.byteLength ?? 0);
      const type = this.schema.fields[c].type;
      const nullBitmap = validity ? new Uint8Array(validity) : undefined;
      if (kind === 'utf8') return makeData({ type, length, nullCount, nullBitmap, valueOffsets: new Int32Array(offsets), data: new Uint8Array(values) });
      return makeData({ type, length, nullCount, nullBitmap, data: new Uint8Array(values) } as never);
    });
    const data = makeData({ type: new Struct(this.schema.fields), length, nullCount: 0, children });
    return { batch: new RecordBatch(this.schema, data), bytes: total };
  }
}
