/** Copying DuckDB's string vectors into Arrow UTF-8 columns, straight from DuckDB's memory. */
import bindings from '@duckdb/node-bindings';
import { ColumnBuilder } from '../arrow';

/**
 * Gaps up to this many bytes between the strings of one vector are read along with them, so
 * that one native call fetches many strings. Safe because it is below the smallest page size
 * (4 KiB): a gap shorter than a page between two mapped bytes lies in the pages of those
 * bytes, so every byte of a merged range is mapped.
 */
const STRING_GAP = 1024;
const TWO_32 = 4294967296;

/** Scratch space for appendStrings, grown as needed: ranges of the out-of-line strings of a vector. */
let rangeStarts = new Float64Array(2048);
let rangeEnds = new Float64Array(2048);
let runStarts = new Float64Array(64);
let runEnds = new Float64Array(64);
/** The address of a run, for get_data_from_pointer, which reads its pointer from a buffer. */
const runPointer = new Uint32Array(2);

/**
 * DuckDB strings are 16-byte `duckdb_string_t`s: a length, then up to 12 bytes inline or a
 * prefix and a pointer. Their UTF-8 bytes go to Arrow as they are: no decoding, no encoding.
 *
 * Strings past 12 bytes live elsewhere (a string heap, a Parquet page or dictionary), usually
 * close together: their address ranges are merged into a few runs, each read with one native
 * call, instead of one call (and one allocation) per string.
 */
export function appendStrings(builder: ColumnBuilder, data: Uint8Array, rows: number, validity: Uint8Array | null): number {
  if (data.byteOffset & 3) data = data.slice(0, rows * 16);
  const words = new Uint32Array(data.buffer, data.byteOffset, rows * 4);

  // 1. Lengths, total bytes, and the address ranges of out-of-line strings.
  if (rangeStarts.length < rows) {
    rangeStarts = new Float64Array(rows);
    rangeEnds = new Float64Array(rows);
  }
  let bytes = 0;
  let outOfLine = 0;
  let sorted = true;
  let previous = 0;
  for (let r = 0; r < rows; r++) {
    if (validity !== null && (validity[r >> 3] & (1 << (r & 7))) === 0) continue;
    const length = words[r << 2];
    bytes += length;
    if (length > 12) {
      const address = words[(r << 2) + 2] + words[(r << 2) + 3] * TWO_32;
      if (address < previous) sorted = false;
      previous = address;
      rangeStarts[outOfLine] = address;
      rangeEnds[outOfLine++] = address + length;
    }
  }

  // 2. Merge the ranges into runs. Sorting starts and ends separately keeps the union of the
  // ranges (a point is covered as often as before), which is all that merging needs.
  let runs = 0;
  if (outOfLine > 0) {
    if (!sorted) {
      rangeStarts.subarray(0, outOfLine).sort();
      rangeEnds.subarray(0, outOfLine).sort();
    }
    let start = rangeStarts[0];
    let end = rangeEnds[0];
    for (let i = 1; i < outOfLine; i++) {
      if (rangeStarts[i] <= end + STRING_GAP) {
        if (rangeEnds[i] > end) end = rangeEnds[i];
      } else {
        runs = addRun(runs, start, end);
        start = rangeStarts[i];
        end = rangeEnds[i];
      }
    }
    runs = addRun(runs, start, end);
  }
  const runData: Uint8Array[] = new Array(runs);
  for (let k = 0; k < runs; k++) {
    runPointer[0] = runStarts[k] % TWO_32;
    runPointer[1] = Math.floor(runStarts[k] / TWO_32);
    runData[k] = bindings.get_data_from_pointer(runPointer.buffer as ArrayBuffer, 0, runEnds[k] - runStarts[k]);
  }

  // 3. Copy the bytes, row by row, from the vector (inline) or from the run holding them.
  builder.reserveUtf8(rows, bytes);
  const out = builder.utf8Data;
  const offsets = builder.utf8Offsets;
  const firstRow = builder.length;
  let at = builder.utf8Length;
  let k = 0;
  for (let r = 0; r < rows; r++) {
    if (validity === null || (validity[r >> 3] & (1 << (r & 7))) !== 0) {
      const length = words[r << 2];
      if (length <= 12) {
        const from = (r << 4) + 4;
        for (let i = 0; i < length; i++) out[at + i] = data[from + i];
      } else {
        const address = words[(r << 2) + 2] + words[(r << 2) + 3] * TWO_32;
        if (address < runStarts[k] || address >= runEnds[k]) k = findRun(runs, address);
        const source = runData[k];
        const from = address - runStarts[k];
        if (length <= 64) {
          for (let i = 0; i < length; i++) out[at + i] = source[from + i];
        } else {
          out.set(source.subarray(from, from + length), at);
        }
      }
      at += length;
    }
    offsets[firstRow + r + 1] = at;
  }
  builder.commitUtf8(rows, at, validity);
  return bytes;
}

function addRun(runs: number, start: number, end: number): number {
  if (runs === runStarts.length) {
    const starts = new Float64Array(runs * 2);
    const ends = new Float64Array(runs * 2);
    starts.set(runStarts);
    ends.set(runEnds);
    runStarts = starts;
    runEnds = ends;
  }
  runStarts[runs] = start;
  runEnds[runs] = end;
  return runs + 1;
}

/** The run holding `address` (runs are sorted and disjoint). */
function findRun(runs: number, address: number): number {
  let low = 0;
  let high = runs - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (runStarts[middle] <= address) low = middle;
    else high = middle - 1;
  }
  return low;
}
