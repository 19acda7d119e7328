/**
 * The routes of the API (common/api.ts): each reads its parameters from the request, asks the
 * access pipeline and writes the answer. No rule of access is decided here.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Call } from '../access/call';
import { AccessGateway, Authenticated } from '../access/gateway';
import { HttpArrowSink } from './arrow-sink';
import { EventStreamSink } from './events';
import { headerValue, readJsonBody } from './request';
import { sendJson } from './respond';

export interface RouteCall {
  access: AccessGateway;
  call: Call;
  principal: Authenticated;
  /** The dataset named in the path (decoded); empty for routes without one. */
  dataset: string;
  url: URL;
  request: IncomingMessage;
  response: ServerResponse;
}

interface Route {
  method: string;
  pattern: RegExp;
  handle(route: RouteCall): Promise<void>;
}

const DATASET = '([^/]+)';

export const ROUTES: Route[] = [
  {
    method: 'GET',
    pattern: /^\/whoami$/,
    handle: async ({ access, call, principal, response }) => sendJson(response, 200, await access.whoami(call, principal))
  },
  {
    method: 'GET',
    pattern: /^\/datasets$/,
    handle: async ({ access, call, principal, url, response }) => {
      const query = {
        q: url.searchParams.get('q') ?? undefined,
        tag: url.searchParams.get('tag') ?? undefined,
        database: url.searchParams.get('database') ?? undefined
      };
      sendJson(response, 200, await access.catalog(call, principal, query));
    }
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/datasets/${DATASET}$`),
    handle: async ({ access, call, principal, dataset, response }) => sendJson(response, 200, await access.describe(call, principal, dataset))
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/datasets/${DATASET}/preview$`),
    handle: ({ access, call, principal, dataset, url, response }) =>
      access.preview(call, principal, dataset, url.searchParams.get('limit'), new HttpArrowSink(response, call.requestId), url.searchParams.getAll('orderBy'))
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/datasets/${DATASET}/count$`),
    handle: async ({ access, call, principal, dataset, response }) => sendJson(response, 200, await access.count(call, principal, dataset))
  },
  {
    method: 'GET',
    pattern: /^\/events$/,
    handle: ({ access, call, principal, request, response }) => access.watch(call, principal, headerValue(request, 'authorization'), new EventStreamSink(response))
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/datasets/${DATASET}/scan$`),
    handle: async ({ access, call, principal, dataset, request, response }) =>
      access.scan(call, principal, dataset, await readJsonBody(call, request), new HttpArrowSink(response, call.requestId))
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/datasets/${DATASET}/snippet$`),
    handle: async ({ access, call, principal, dataset, url, response }) =>
      sendJson(response, 200, await access.snippet(call, principal, dataset, url.searchParams.get('flavour')))
  }
];
