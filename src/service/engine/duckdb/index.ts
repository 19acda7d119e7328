/** The DuckDB engine: files read in-process (engine.ts), with its dialect and streaming tuning. */
export { DuckDBEngine } from './engine';
export { type DuckDBResources, INTERACTIVE_ROWS } from './instances';
export { heavyOperators } from './plan';
export { duckdbDialect } from './dialect';
export { MAX_BUFFER, queryShape, streamingBuffer } from './open-stream';
