/**
 * A view stream as server-sent events (text/event-stream): `retry` first, then one
 * VIEW_EVENT event per update, its data the ViewVersions JSON, and a comment line as heartbeat.
 * Never buffered (`x-accel-buffering: no` for nginx-like proxies in between).
 */
import { ServerResponse } from 'node:http';
import { VIEW_EVENT, ViewVersions } from '../../common/api';
import { ViewSink } from '../access/watch';

/** How long a client waits before reconnecting after the stream ends (EventSource's `retry`). */
const RECONNECT_MS = 1_000;

export class EventStreamSink implements ViewSink {
  readonly closed: AbortSignal;

  constructor(private readonly response: ServerResponse) {
    const gone = new AbortController();
    this.closed = gone.signal;
    response.on('close', () => gone.abort());
  }

  open(): void {
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no'
    });
    this.response.write(`retry: ${RECONNECT_MS}\n\n`);
  }

  send(views: ViewVersions): void {
    this.response.write(`event: ${VIEW_EVENT}\ndata: ${JSON.stringify(views)}\n\n`);
  }

  heartbeat(): void {
    this.response.write(': heartbeat\n\n');
  }

  end(): void {
    this.response.end();
  }
}
