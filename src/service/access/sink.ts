/** How a transport takes the rows a read releases: the only way rows leave the access pipeline. */
import type { RecordBatch, Schema } from 'apache-arrow';

/** The transport's account of what reached the client, for the `complete` record. */
export interface Delivery {
  /**
   * `bytes` more (as the transport counts them: IPC bytes on HTTP), completing `rows` more
   * rows, left the service for the client: what the operating system took, not what is still
   * queued in the process.
   */
  delivered(bytes: number, rows: number): void;
}

export interface ResultSink {
  /** Aborted when the client goes away: the pipeline stops the query and records an abort. */
  readonly closed: AbortSignal;
  /**
   * The access record is durable: start the answer (HTTP: status, headers, the Arrow
   * schema). Called once, before any batch; nothing may reach the client before it.
   */
  open(schema: Schema, delivery: Delivery): void;
  /** One batch for the client; resolves when the transport can take another (backpressure). */
  write(batch: RecordBatch): Promise<void>;
  /**
   * Every batch was written: end the answer so that it reads as complete. Resolves true once
   * the client took all of it, as far as the transport can tell; false if it went away first.
   */
  end(): Promise<boolean>;
  /** The rows stopped short: end the answer so that it cannot read as complete. */
  cut(): void;
  /**
   * Bytes handed to the transport that the operating system has not taken yet: what waits in
   * the service for a client that reads slower than the rows come (or stopped reading).
   */
  pendingBytes(): number;
}
