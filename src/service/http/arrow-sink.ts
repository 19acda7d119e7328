/**
 * Released rows as an Arrow IPC stream on an HTTP response, batch by batch: each batch is
 * serialised and handed to the socket in one corked write, and the next is taken only once
 * the socket has drained (backpressure per batch), so memory stays bounded however slowly
 * the client reads.
 *
 * What it reports delivered is what the kernel took: a batch's bytes and rows count once the
 * socket has flushed them (its write callback), not when they are queued in the process. The
 * answer is whole only once all of it is flushed and the connection says the client took it
 * (./connections.ts).
 */
import { ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { AsyncByteQueue, RecordBatch, RecordBatchStreamWriter, Schema } from 'apache-arrow';
import { ARROW_STREAM_MIME, REQUEST_ID_HEADER } from '../../common/api';
import { Delivery, ResultSink } from '../access/sink';
import { answerTaken, markAnswer } from './connections';

/** Collects what a RecordBatchStreamWriter writes, for the caller to take synchronously. */
class IpcPieces extends AsyncByteQueue {
  private pieces: Uint8Array[] = [];

  override write(value: Uint8Array): void {
    this.pieces.push(value);
  }

  take(): Uint8Array[] {
    const pieces = this.pieces;
    this.pieces = [];
    return pieces;
  }
}

/** Resolves true once everything written is flushed to the kernel, false if the response closed first. */
function flushed(response: ServerResponse): Promise<boolean> {
  if (response.writableFinished) return Promise.resolve(true);
  return new Promise(resolve => {
    const done = (whole: boolean) => () => {
      response.off('finish', onFinish);
      response.off('close', onClose);
      resolve(whole);
    };
    const onFinish = done(true);
    const onClose = done(false);
    response.on('finish', onFinish);
    response.on('close', onClose);
  });
}

/** Resolves when the response can take more, or is closed (a client gone never drains). */
function drainedOrClosed(response: ServerResponse): Promise<void> {
  return new Promise(resolve => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

export class HttpArrowSink implements ResultSink {
  readonly closed: AbortSignal;
  private readonly pieces = new IpcPieces();
  private readonly writer = new RecordBatchStreamWriter();
  private delivery?: Delivery;
  private socket?: Socket;
  private mark = 0;

  constructor(
    private readonly response: ServerResponse,
    private readonly requestId: string
  ) {
    const gone = new AbortController();
    this.closed = gone.signal;
    response.on('close', () => {
      if (!response.writableFinished) gone.abort();
    });
  }

  open(schema: Schema, delivery: Delivery): void {
    this.delivery = delivery;
    this.socket = this.response.socket ?? undefined;
    if (this.socket) this.mark = markAnswer(this.socket);
    this.response.writeHead(200, { 'content-type': ARROW_STREAM_MIME, 'cache-control': 'no-store', [REQUEST_ID_HEADER]: this.requestId });
    this.writer.reset(this.pieces, schema);
    this.send();
  }

  async write(batch: RecordBatch): Promise<void> {
    this.writer.write(batch);
    if (!this.send(batch.numRows)) await drainedOrClosed(this.response);
  }

  async end(): Promise<boolean> {
    this.writer.close();
    this.send();
    this.response.end();
    if (!(await flushed(this.response)) || !this.socket) return false;
    return answerTaken(this.socket, this.mark);
  }

  cut(): void {
    this.writer.close();
    this.response.destroy();
  }

  pendingBytes(): number {
    return this.response.writableLength;
  }

  /**
   * Hands what the writer produced (of a batch of `rows` rows) to the socket; false when the
   * socket wants to drain first. Each piece counts as delivered once flushed; the rows with the last.
   */
  private send(rows = 0): boolean {
    const pieces = this.pieces.take();
    if (this.closed.aborted || pieces.length === 0) return true;
    this.response.cork();
    pieces.forEach((piece, i) => {
      const last = i === pieces.length - 1;
      this.response.write(piece, error => {
        if (!error) this.delivery!.delivered(piece.byteLength, last ? rows : 0);
      });
    });
    this.response.uncork();
    return !this.response.writableNeedDrain;
  }
}
