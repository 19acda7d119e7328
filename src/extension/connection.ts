import type { IDisposable } from '@lumino/disposable';
import { Signal, type ISignal } from '@lumino/signaling';

import { WardenRequestError } from './handler';

export type ConnectionStatus = 'up' | 'down';

/** Whether the Warden service answers, learnt from the requests the extension makes. */
export interface IServiceConnection {
  readonly status: ConnectionStatus;
  /** Emitted with the new status when it changes. */
  readonly changed: ISignal<IServiceConnection, ConnectionStatus>;
}

/**
 * Failures that say the service (or the Jupyter server in front of it) is not
 * answering, as opposed to an answer that refuses or reports a problem. The
 * Jupyter server restarts a dead service within seconds, so these pass.
 */
export function isUnavailable(error: unknown): boolean {
  return (
    error instanceof WardenRequestError &&
    (error.code === 'service_unavailable' || error.code === 'network_error')
  );
}

/**
 * Tracks the service's availability without polling while it is up: a failed
 * request marks it down, then a cheap probe is retried with exponential
 * backoff until one answers (or any other request succeeds first).
 */
export class ServiceConnection implements IServiceConnection, IDisposable {
  constructor(options: ServiceConnection.IOptions) {
    this._probe = options.probe;
    this._firstDelay = options.firstDelayMs ?? 1000;
    this._maxDelay = options.maxDelayMs ?? 30_000;
    this._delay = this._firstDelay;
  }

  get status(): ConnectionStatus {
    return this._status;
  }

  get changed(): ISignal<this, ConnectionStatus> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** A request was answered by the service. */
  succeeded(): void {
    this._delay = this._firstDelay;
    this._setUp();
  }

  /**
   * A request failed. Unavailability marks the service down; any other error
   * is an answer, so the service is up.
   */
  failed(error: unknown): void {
    if (!isUnavailable(error)) {
      this._setUp();
      return;
    }
    if (this._disposed) {
      return;
    }
    if (this._status === 'up') {
      this._status = 'down';
      this._changed.emit('down');
    }
    this._scheduleProbe();
  }

  dispose(): void {
    this._disposed = true;
    this._clearTimer();
    Signal.clearData(this);
  }

  private _setUp(): void {
    this._clearTimer();
    if (this._status === 'down' && !this._disposed) {
      this._status = 'up';
      this._changed.emit('up');
    }
  }

  private _scheduleProbe(): void {
    if (this._probing) {
      return;
    }
    this._probing = true;
    const delay = this._delay;
    this._delay = Math.min(this._delay * 2, this._maxDelay);
    this._timer = setTimeout(() => {
      this._timer = null;
      // A probe's success does not reset the backoff: only real requests
      // prove the service usable (a health check may pass while they fail).
      this._probe().then(
        () => {
          this._probing = false;
          this._setUp();
        },
        error => {
          this._probing = false;
          this.failed(error);
        }
      );
    }, delay);
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
      this._probing = false;
    }
  }

  private _probe: () => Promise<unknown>;
  private _firstDelay: number;
  private _maxDelay: number;
  private _delay: number;
  private _status: ConnectionStatus = 'up';
  private _changed = new Signal<this, ConnectionStatus>(this);
  private _timer: ReturnType<typeof setTimeout> | null = null;
  /** A probe is scheduled or in flight. */
  private _probing = false;
  private _disposed = false;
}

export namespace ServiceConnection {
  export interface IOptions {
    /** A cheap request that succeeds when the service answers. */
    probe: () => Promise<unknown>;
    firstDelayMs?: number;
    maxDelayMs?: number;
  }
}
