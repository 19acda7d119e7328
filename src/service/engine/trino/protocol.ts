/**
 * Trino's REST client protocol over node:http/https: POST the statement to /v1/statement, GET
 * each `nextUri` for the next page, DELETE it to cancel. Not through the `trino-client`
 * package, which parses JSON with JSON.parse (bigints past 2^53 lose digits), keeps prepared
 * statements in headers shared by every query of a client, and has no request timeout, no
 * per-connection CA for HTTPS and no way to abort a request in flight.
 */
import http from 'node:http';
import https from 'node:https';
import { EngineUnavailableError, SourceError } from '../engine';
import { SqlValue } from '../sql';
import { RawPage, splitPage } from './pages';
import { executeStatement } from './statement';

/** A Trino coordinator and how Warden logs into it (a `kind: trino` connection of warden.yaml). */
export interface TrinoConnection {
  kind: 'trino';
  name: string;
  /** The coordinator, `https://host:port` (or `http://` without a password). */
  url: string;
  user: string;
  /** Sent with HTTP basic authentication; only over HTTPS. */
  password?: string;
  /** PEM certificates trusted for the coordinator's HTTPS, besides the system's. */
  ca?: string;
  /** Catalog of tables named `schema.table`. */
  catalog: string;
  /** Time allowed to each HTTP request (connect and answer); Trino answers a page in about 1 s. */
  requestTimeoutMs: number;
  /** Attempts after the first for a request Trino says to retry (502, 503, 504) or that could not connect. */
  retries: number;
}

/** A query Trino refused or failed (a type error in a filter, a missing table...). */
export class TrinoQueryError extends SourceError {
  constructor(
    message: string,
    readonly errorName: string,
    readonly errorType: string
  ) {
    super(message);
  }
}

/** How long the cancel of an abandoned query may take before the stream ends anyway. */
const CANCEL_TIMEOUT_MS = 2_000;

export interface TrinoColumn {
  name: string;
  type: string;
}

interface QueryResults {
  id: string;
  nextUri?: string;
  columns?: TrinoColumn[];
  data?: unknown[][];
  error?: { message: string; errorName: string; errorType: string };
}

interface HttpAnswer {
  status: number;
  body: Buffer;
}

/** How a query reads a page: Trino's results without their rows, and the rows (if any) as the consumer takes them. */
export type PageReader<P> = (body: Buffer, exactIntegers: boolean) => { results: QueryResults; page: P | undefined };

/** Rows as JSON values (describe, the loader, tests). */
export const jsonRows: PageReader<unknown[][]> = (body, exactIntegers) => {
  const results = parseResults(body.toString('utf8'), exactIntegers);
  return { results, page: results.data?.length ? results.data : undefined };
};

/** Rows left as bytes, for ./pages.ts to decode into Arrow. */
export const rawRows: PageReader<RawPage> = body => {
  const { header, rows } = splitPage(body);
  return { results: header as QueryResults, page: rows !== -1 && body[rows] === 0x5b ? { body, rows } : undefined };
};

/**
 * Trino writes bigints as JSON numbers, which JSON.parse rounds past 2^53. Integers of 16 or
 * more digits (and only those: not inside strings, not parts of a decimal or exponent) are
 * turned into strings first, and decoded as BigInt.
 */
const LONG_INTEGER = /"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/g;
export function parseResults(text: string, exactIntegers = true): QueryResults {
  return JSON.parse(exactIntegers ? text.replace(LONG_INTEGER, token => (token[0] === '"' ? token : `"${token}"`)) : text) as QueryResults;
}

/** Where a connection points, for messages (never the password). */
export function describeTrino(connection: TrinoConnection): string {
  return `Trino connection ${connection.name} (${connection.user}@${connection.url})`;
}

/** Trino's error text without its `line 1:234: ` prefix, which points into SQL the caller never saw. */
function queryErrorMessage(message: string): string {
  return message.replace(/^line \d+:\d+: /, '');
}

/** One coordinator, logged into as the connection's user: HTTP requests with retries, and statements. */
export class TrinoClient {
  private readonly agent: http.Agent;
  private readonly base: URL;

  constructor(readonly connection: TrinoConnection) {
    this.base = new URL(connection.url);
    if (connection.password && this.base.protocol !== 'https:') {
      throw new SourceError(`${describeTrino(connection)}: a password is only sent over HTTPS: use an https:// URL`);
    }
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ keepAlive: true, ca: connection.ca }) : new http.Agent({ keepAlive: true });
  }

  /** A statement with `$n` parameters, its pages read by `reader`; nothing is sent before its `columns()`. */
  query<P>(sql: string, params: SqlValue[], clientInfo: string, reader: PageReader<P>): TrinoQuery<P> {
    return new TrinoQuery(this, executeStatement(sql, params), clientInfo, reader);
  }

  /** Rows of a statement as JSON values, all read before the next page is fetched (describe, the loader, tests). */
  async *rows(sql: string, params: SqlValue[], clientInfo: string): AsyncGenerator<unknown[]> {
    const query = this.query(sql, params, clientInfo, jsonRows);
    try {
      await query.columns();
      for (let page = await query.nextPage(); page; page = await query.nextPage()) yield* page;
    } finally {
      await query.cancel();
    }
  }

  close(): void {
    this.agent.destroy();
  }

  /** One HTTP request, retried as Trino's protocol says; fails with EngineUnavailableError when Trino cannot be had. */
  async request(method: 'GET' | 'POST' | 'DELETE', url: string, body: string | undefined, headers: Record<string, string>, signal: AbortSignal): Promise<HttpAnswer> {
    const { requestTimeoutMs, retries } = this.connection;
    for (let attempt = 0; ; attempt++) {
      let answer: HttpAnswer | undefined;
      let failure: NodeJS.ErrnoException | undefined;
      try {
        answer = await this.send(method, url, body, headers, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        failure = error as NodeJS.ErrnoException;
      }
      // 502, 503, 504: Trino (or a proxy) asks the client to try again. A failed request is
      // tried again too (a coordinator restarting), except a statement that may have arrived:
      // only a refused connection proves it did not.
      if (answer && ![502, 503, 504].includes(answer.status)) return answer;
      const retryable = answer !== undefined || method !== 'POST' || failure?.code === 'ECONNREFUSED';
      if (!retryable || attempt >= retries) {
        const reason = failure ? failure.message : `HTTP ${answer!.status}`;
        throw new EngineUnavailableError(
          `${describeTrino(this.connection)} is unavailable: ${reason} (after ${attempt + 1} attempt${attempt ? 's' : ''}, ${requestTimeoutMs} ms each at most); try again later or tell your Warden operator`
        );
      }
      await new Promise(resolve => setTimeout(resolve, 100 * 2 ** attempt));
    }
  }

  private send(method: string, url: string, body: string | undefined, headers: Record<string, string>, signal: AbortSignal): Promise<HttpAnswer> {
    const target = new URL(url, this.base);
    // Trino's nextUri comes from the coordinator: follow it only to the coordinator configured.
    if (target.origin !== this.base.origin) {
      return Promise.reject(new Error(`Trino sent a URI outside ${this.base.origin}: ${target.origin}`));
    }
    const { user, password, requestTimeoutMs } = this.connection;
    const authorization = password ? { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } : {};
    const transport = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        target,
        {
          method,
          agent: this.agent,
          signal,
          timeout: requestTimeoutMs,
          headers: { 'x-trino-user': user, ...authorization, ...headers, ...(body === undefined ? {} : { 'content-type': 'text/plain; charset=utf-8' }) }
        },
        response => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            clearTimeout(deadline);
            resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) });
          });
          response.on('error', reject);
        }
      );
      // `timeout` covers an idle socket; the deadline covers the whole request.
      const deadline = setTimeout(() => request.destroy(new Error(`no answer within ${requestTimeoutMs} ms`)), requestTimeoutMs);
      request.on('timeout', () => request.destroy(new Error(`no answer within ${requestTimeoutMs} ms`)));
      request.on('error', error => {
        clearTimeout(deadline);
        reject(error);
      });
      request.end(body);
    });
  }
}

/**
 * One statement on Trino's protocol: POST it, then GET each `nextUri`. The next page is
 * fetched while the consumer works on the one it was given, and no further: a consumer that
 * stops reading stops the fetching one page later. `cancel` DELETEs the current `nextUri`,
 * which makes Trino cancel the query (USER_CANCELED).
 */
export class TrinoQuery<P> {
  private nextUri: string | undefined;
  private pending: P | undefined;
  private described: TrinoColumn[] | undefined;
  /** Whether pages may hold integers past 2^53 (a bigint somewhere in the columns): see parseResults. */
  private exactIntegers = true;
  /** The fetch of the page after the one handed out: its failure, if it failed. */
  private ahead: Promise<unknown> | undefined;
  private cancelled = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly client: TrinoClient,
    private readonly statement: string,
    private readonly clientInfo: string,
    private readonly reader: PageReader<P>
  ) {}

  /** Submits the statement and follows it until Trino knows the result's columns. */
  async columns(): Promise<TrinoColumn[]> {
    const first = await this.call('POST', '/v1/statement', this.statement, {
      'x-trino-source': 'warden',
      // Ties Trino's query log (system.runtime.queries, event listeners) to Warden's audit record.
      'x-trino-client-info': this.clientInfo,
      'x-trino-time-zone': 'UTC',
      // Without it Trino sends every timestamp as `timestamp` with milliseconds only.
      'x-trino-client-capabilities': 'PARAMETRIC_DATETIME'
    });
    this.accept(first);
    while (!this.described && this.nextUri) this.accept(await this.call('GET', this.nextUri));
    if (!this.described) throw new TrinoQueryError(`${describeTrino(this.client.connection)}: the query ended without a result`, 'NO_RESULT', 'INTERNAL_ERROR');
    return this.described;
  }

  /** The next non-empty page of rows, or undefined at the end. */
  async nextPage(): Promise<P | undefined> {
    try {
      const failure = await this.ahead;
      this.ahead = undefined;
      if (failure !== undefined) throw failure;
      await this.fetchPage();
    } catch (error) {
      // A cancel aborts the request in flight: that is the end of the rows, not a failure.
      if (this.cancelled) return undefined;
      throw error;
    }
    const page = this.pending;
    this.pending = undefined;
    if (page && this.nextUri && !this.cancelled) {
      // Settles with the failure (not rejects), so that a page nobody asks for fails nothing.
      this.ahead = this.fetchPage().then(
        () => undefined,
        (error: unknown) => error ?? new Error('the page fetch failed')
      );
    }
    return this.cancelled ? undefined : page;
  }

  private async fetchPage(): Promise<void> {
    while (!this.pending && this.nextUri && !this.cancelled) this.accept(await this.call('GET', this.nextUri));
  }

  /** Stops the query on Trino (when it is still running) and any request in flight. */
  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    const uri = this.nextUri;
    this.abort.abort();
    if (!uri) return;
    this.nextUri = undefined;
    try {
      await this.client.request('DELETE', uri, undefined, {}, AbortSignal.timeout(CANCEL_TIMEOUT_MS));
    } catch {
      // Trino ends a query whose client stops polling (query.client.timeout) anyway.
    }
  }

  private accept({ results, page }: { results: QueryResults; page: P | undefined }): void {
    if (results.error) {
      this.nextUri = undefined;
      const { message, errorName, errorType } = results.error;
      throw new TrinoQueryError(queryErrorMessage(message), errorName, errorType);
    }
    this.nextUri = results.nextUri;
    if (results.columns && !this.described) {
      this.described = results.columns;
      this.exactIntegers = results.columns.some(column => /bigint/.test(column.type));
    }
    if (page !== undefined) this.pending = page;
  }

  private async call(method: 'GET' | 'POST', uri: string, body?: string, headers: Record<string, string> = {}): Promise<ReturnType<PageReader<P>>> {
    const answer = await this.client.request(method, uri, body, headers, this.abort.signal);
    if (answer.status === 401 || answer.status === 403) {
      throw new SourceError(`${describeTrino(this.client.connection)}: login refused (HTTP ${answer.status}): check the user and password`);
    }
    if (answer.status !== 200) {
      throw new SourceError(`${describeTrino(this.client.connection)}: HTTP ${answer.status}: ${answer.body.toString('utf8', 0, 200)}`);
    }
    return this.reader(answer.body, this.exactIntegers);
  }
}
