import type { IDisposable } from '@lumino/disposable';
import { Signal, type ISignal } from '@lumino/signaling';

import type { ViewVersions } from '../common/api';
import type { CatalogModel } from './panels/catalog';
import type { DetailsModel } from './panels/details';
import type { PreviewModel } from './panels/preview';
import type { IWardenClient } from './tokens';

/** One server-sent event: its type and data (comments and other fields are read past). */
export interface IServerEvent {
  event: string;
  data: string;
}

/**
 * The server-sent events of a byte stream, as they complete (the text/event-stream format:
 * blank-line separated blocks of `field: value` lines).
 */
export async function* readEvents(
  body: ReadableStream<Uint8Array>
): AsyncGenerator<IServerEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        return;
      }
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') {
            event = text;
          } else if (field === 'data') {
            data.push(text);
          }
        }
        if (data.length) {
          yield { event, data: data.join('\n') };
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * What the user may see, as the service pushes it: the version of every dataset's view
 * (GET /events). The stream is kept open while the extension runs: when it ends (its
 * credential expired) it is opened again after the first delay (a second), when it fails it
 * is retried with backoff, and at once when the service is back (the client's connection
 * says so). Versions pushed after a reconnection are compared with the last ones, so a change
 * made while the stream was down is not missed.
 *
 * When the service is back, exactly one update follows, for what failed meanwhile to be
 * brought in line: the first push of the reconnected stream or, if the stream stayed open
 * through the outage, the last versions again.
 */
export class LiveViews implements IDisposable {
  constructor(options: LiveViews.IOptions) {
    this._client = options.client;
    this._firstDelay = options.firstDelayMs ?? 1000;
    this._maxDelay = options.maxDelayMs ?? 30_000;
    this._delay = this._firstDelay;
    this._client.connection.changed.connect(this._onConnection, this);
  }

  /** The versions last pushed; null before the first. */
  get views(): ViewVersions | null {
    return this._views;
  }

  /**
   * Emitted with every update, and the versions before it (null for the first); once more
   * with the same versions when the service is back while the stream stayed open.
   */
  get changed(): ISignal<this, LiveViews.IChange> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Open the stream and keep it open. */
  start(): void {
    if (!this._running && !this._disposed) {
      this._running = true;
      void this._run();
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._abort?.abort();
    this._wake?.();
    Signal.clearData(this);
  }

  private async _run(): Promise<void> {
    while (!this._disposed) {
      const abort = new AbortController();
      this._abort = abort;
      try {
        for await (const views of this._client.views(abort.signal)) {
          // A stream that delivers is a healthy one.
          this._delay = this._firstDelay;
          this._streaming = true;
          this._receive(views);
        }
      } catch {
        // Unavailability is reported to the client's connection, which wakes us when it is over.
      } finally {
        this._streaming = false;
      }
      if (this._disposed) {
        return;
      }
      await this._sleep(this._delay);
      this._delay = Math.min(this._delay * 2, this._maxDelay);
    }
  }

  private _receive(views: ViewVersions): void {
    const previous = this._views;
    this._views = views;
    this._changed.emit({ views, previous });
  }

  private _sleep(delay: number): Promise<void> {
    return new Promise(resolve => {
      const done = () => {
        clearTimeout(timer);
        this._wake = null;
        resolve();
      };
      const timer = setTimeout(done, delay);
      this._wake = done;
    });
  }

  private _onConnection(_: unknown, status: string): void {
    if (status !== 'up') {
      return;
    }
    this._delay = this._firstDelay;
    if (this._streaming && this._views) {
      this._changed.emit({ views: this._views, previous: this._views });
    } else {
      // Reconnect now (or, while connecting, let its first push say it).
      this._wake?.();
    }
  }

  private _client: IWardenClient;
  private _firstDelay: number;
  private _maxDelay: number;
  private _delay: number;
  private _views: ViewVersions | null = null;
  private _changed = new Signal<this, LiveViews.IChange>(this);
  private _abort: AbortController | null = null;
  /** Set while sleeping before a reconnection: reconnect now. */
  private _wake: (() => void) | null = null;
  /** The open stream has delivered: its versions are current. */
  private _streaming = false;
  private _running = false;
  private _disposed = false;
}

export namespace LiveViews {
  export interface IOptions {
    client: IWardenClient;
    /** Backoff of reconnections after a failure. */
    firstDelayMs?: number;
    maxDelayMs?: number;
  }

  export interface IChange {
    views: ViewVersions;
    previous: ViewVersions | null;
  }

  /** Datasets whose version differs between two sets of versions (added and removed ones included). */
  export function changedDatasets(
    before: ViewVersions,
    after: ViewVersions
  ): string[] {
    const names = new Set([
      ...Object.keys(before.datasets),
      ...Object.keys(after.datasets)
    ]);
    return [...names].filter(
      name => before.datasets[name] !== after.datasets[name]
    );
  }
}

/**
 * Bring what is shown in line with the user's views as the service pushed them: the catalog
 * when datasets came, went or changed, the details and every open preview whose view is not
 * the one shown any more (a preview of a dataset no longer shared then says so).
 */
export function followViews(
  { views, previous }: LiveViews.IChange,
  catalog: CatalogModel,
  details: DetailsModel,
  previews: { forEach(callback: (widget: { content: { model: PreviewModel } }) => void): void }
): void {
  const names = Object.keys(views.datasets);
  const catalogStale =
    (previous && LiveViews.changedDatasets(previous, views).length > 0) ||
    names.length !== catalog.datasets.length ||
    catalog.datasets.some(dataset => !(dataset.name in views.datasets));
  // The catalog's first load may still be on its way: it is as new as the first versions.
  if (catalogStale && !(previous === null && catalog.status === 'loading')) {
    void catalog.refresh();
  }
  if (
    details.detail &&
    details.detail.version !== views.datasets[details.detail.name]
  ) {
    void details.invalidate();
  }
  previews.forEach(widget => {
    const model = widget.content.model;
    if (!model.showsView(views.datasets[model.dataset])) {
      // Said in the preview when it replaces rows that were shown.
      void model.load(model.version !== null);
    }
  });
}
