import { ServerConnection } from '@jupyterlab/services';
import { Int32, Utf8 } from 'apache-arrow';

import { WardenClient } from '../client';
import {
  describeError,
  encodeNotebookHeader,
  requestAPI,
  WardenRequestError
} from '../handler';
import { arrowStream } from './fixtures';

interface ISeen {
  url: string;
  method: string;
  headers: Headers;
}

/** Server settings whose fetch answers with `respond` and records requests. */
function fakeServer(respond: (seen: ISeen) => Response | Promise<Response>) {
  const seen: ISeen[] = [];
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/lab-base/',
    token: '',
    fetch: async (input: RequestInfo, init?: RequestInit) => {
      const request = new Request(input, init);
      const entry = {
        // Drop the cache buster ServerConnection appends to GET requests.
        url: request.url.replace(/[?&]\d+$/, ''),
        method: request.method,
        headers: request.headers
      };
      seen.push(entry);
      return respond(entry);
    }
  });
  return { seen, serverSettings };
}

/** The WardenRequestError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<WardenRequestError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason
  );
  expect(error).toBeInstanceOf(WardenRequestError);
  return error as WardenRequestError;
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });

describe('requestAPI', () => {
  it('calls the server extension route with client and notebook headers', async () => {
    const { seen, serverSettings } = fakeServer(() => json({ user: 'alice' }));
    const result = await requestAPI<{ user: string }>('whoami', {
      client: 'catalog',
      notebookPath: 'work/analysis.ipynb',
      query: { q: 'trial', tag: undefined },
      serverSettings
    });
    expect(result).toEqual({ user: 'alice' });
    expect(seen[0].url).toBe(
      'http://localhost:8888/lab-base/warden/api/v1/whoami?q=trial'
    );
    expect(seen[0].method).toBe('GET');
    expect(seen[0].headers.get('X-Warden-Client')).toBe('catalog');
    expect(seen[0].headers.get('X-Warden-Notebook')).toBe(
      'work/analysis.ipynb'
    );
  });

  it('defaults to the extension client and sends no notebook when unknown', async () => {
    const { seen, serverSettings } = fakeServer(() => json({}));
    await requestAPI('whoami', { serverSettings });
    expect(seen[0].headers.get('X-Warden-Client')).toBe('extension');
    expect(seen[0].headers.has('X-Warden-Notebook')).toBe(false);
  });

  it('maps a Warden error body to a typed error', async () => {
    const { serverSettings } = fakeServer(() =>
      json({ error: { code: 'forbidden', message: 'no grant for alice' } }, 403)
    );
    const error = await failure(requestAPI('datasets/x', { serverSettings }));
    expect(error).toBeInstanceOf(WardenRequestError);
    expect(error.code).toBe('forbidden');
    expect(error.message).toBe('no grant for alice');
    expect(error.status).toBe(403);
    expect(describeError(error)).toBe('no grant for alice (forbidden)');
  });

  it('names a missing server extension when Jupyter answers 404 with HTML', async () => {
    const { serverSettings } = fakeServer(
      () => new Response('<html>404: Not Found</html>', { status: 404 })
    );
    const error = await failure(requestAPI('whoami', { serverSettings }));
    expect(error.code).toBe('not_found');
    expect(error.message).toMatch(/server extension/);
  });

  it('derives the code from the status for other non-Warden errors', async () => {
    const { serverSettings } = fakeServer(
      () =>
        new Response('Bad gateway', { status: 502, statusText: 'Bad Gateway' })
    );
    const error = await failure(requestAPI('whoami', { serverSettings }));
    expect(error.code).toBe('service_unavailable');
    expect(error.message).toBe(
      'The Warden request failed: HTTP 502 Bad Gateway'
    );
    const broken = fakeServer(() => new Response('', { status: 500 }));
    const internal = await failure(
      requestAPI('whoami', { serverSettings: broken.serverSettings })
    );
    expect(internal.code).toBe('internal');
  });

  it('reports an unreachable server as a network error', async () => {
    const { serverSettings } = fakeServer(() => {
      throw new TypeError('Failed to fetch');
    });
    const error = await failure(requestAPI('whoami', { serverSettings }));
    expect(error).toBeInstanceOf(WardenRequestError);
    expect(error.code).toBe('network_error');
    expect(error.message).toContain('Failed to fetch');
  });

  it('rejects a success that is not JSON', async () => {
    const { serverSettings } = fakeServer(
      () => new Response('<html>login</html>')
    );
    const error = await failure(requestAPI('whoami', { serverSettings }));
    expect(error.code).toBe('internal');
    expect(error.message).toMatch(/not JSON/);
  });

  it('returns raw bytes for arraybuffer responses', async () => {
    const { serverSettings } = fakeServer(
      () => new Response(new Uint8Array([1, 2, 3]))
    );
    const bytes = await requestAPI('datasets/x/preview', {
      responseType: 'arraybuffer',
      serverSettings
    });
    expect(Array.from(new Uint8Array(bytes))).toEqual([1, 2, 3]);
  });
});

describe('encodeNotebookHeader', () => {
  it('keeps ASCII paths readable and percent-encodes the rest', () => {
    expect(encodeNotebookHeader('work/a b.ipynb')).toBe('work/a%20b.ipynb');
    expect(encodeNotebookHeader('Übersicht/100%.ipynb')).toBe(
      '%C3%9Cbersicht/100%25.ipynb'
    );
    expect(
      decodeURIComponent(encodeNotebookHeader('Übersicht/100%.ipynb'))
    ).toBe('Übersicht/100%.ipynb');
  });
});

describe('WardenClient', () => {
  it('sends the right client kind per route and escapes dataset names', async () => {
    const { seen, serverSettings } = fakeServer(() => json({}));
    const client = new WardenClient({
      serverSettings,
      currentNotebook: () => 'nb/current.ipynb'
    });
    await client.listDatasets();
    await client.getDataset('db.a/b');
    await client.snippet('db.t', 'polars', 'nb/target.ipynb');
    const requests = seen.map(s => [
      s.url.replace(/^.*\/api\/v1\//, ''),
      s.headers.get('X-Warden-Client'),
      s.headers.get('X-Warden-Notebook')
    ]);
    expect(requests).toEqual([
      ['datasets', 'catalog', 'nb/current.ipynb'],
      ['datasets/db.a%2Fb', 'catalog', 'nb/current.ipynb'],
      ['datasets/db.t/snippet?flavour=polars', 'extension', 'nb/target.ipynb']
    ]);
  });

  it('decodes the preview from Arrow IPC stream bytes', async () => {
    const bytes = arrowStream(
      [
        { name: 'id', type: new Int32(), values: [1, 2] },
        {
          name: 'ssn',
          type: new Utf8(),
          values: ['a1', 'b2'],
          metadata: { 'warden.access': 'masked' }
        }
      ],
      { 'warden.policies': '["mask-direct-pii"]' }
    );
    const { seen, serverSettings } = fakeServer(
      () =>
        new Response(bytes.slice().buffer as ArrayBuffer, {
          headers: { 'Content-Type': 'application/vnd.apache.arrow.stream' }
        })
    );
    const client = new WardenClient({ serverSettings });
    const table = await client.preview('db.t', {
      limit: 25,
      orderBy: ['ssn DESC', 'id']
    });
    expect(seen[0].url).toBe(
      'http://localhost:8888/lab-base/warden/api/v1/datasets/db.t/preview?limit=25&orderBy=ssn+DESC&orderBy=id'
    );
    expect(seen[0].headers.get('X-Warden-Client')).toBe('preview');
    expect(table.numRows).toBe(2);
    expect(table.getChild('ssn')?.get(1)).toBe('b2');
    expect(table.schema.fields[1].metadata.get('warden.access')).toBe('masked');
  });

  it('turns undecodable preview bytes into a typed error', async () => {
    const { serverSettings } = fakeServer(
      () => new Response(new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9, 9]))
    );
    const error = await failure(
      new WardenClient({ serverSettings }).preview('db.t', { limit: 5 })
    );
    expect(error).toBeInstanceOf(WardenRequestError);
    expect(error.code).toBe('internal');
  });
});
