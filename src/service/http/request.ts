/**
 * Reading what an HTTP request says: headers, the dataset in the path, a JSON body. What
 * cannot be read becomes the call's `malformed` input (access/call.ts), which the gateway
 * refuses with an audit record once it knows who is asking; the rest of the request is kept
 * as sent.
 */
import { IncomingMessage } from 'node:http';
import { CLIENT_HEADER, NOTEBOOK_HEADER } from '../../common/api';
import { Call, newCall } from '../access/call';
import { InvalidInput } from '../access/errors';

const MAX_BODY_BYTES = 64 * 1024;

export function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Marks `call` malformed by `problem`, unless something else already did (the first is reported). */
export function malformed(call: Call, problem: InvalidInput): void {
  call.malformed ??= problem;
}

/**
 * The call an HTTP request makes: client kind and notebook path from the Warden headers. A
 * notebook header that is not valid percent-encoding is recorded as sent, and makes the call malformed.
 */
export function callOf(request: IncomingMessage): Call {
  const notebook = headerValue(request, NOTEBOOK_HEADER);
  let path: string | undefined;
  let problem: InvalidInput | undefined;
  try {
    path = notebook && decodeURIComponent(notebook);
  } catch {
    path = notebook;
    problem = new InvalidInput('bad_request', `the ${NOTEBOOK_HEADER} header is not valid percent-encoding (UTF-8, as encodeURIComponent writes it)`);
  }
  const call = newCall(headerValue(request, CLIENT_HEADER), path);
  if (problem) malformed(call, problem);
  return call;
}

/** A dataset name from the URL path; one that is not valid percent-encoding is kept as sent and makes the call malformed. */
export function datasetName(call: Call, encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    malformed(call, new InvalidInput('bad_request', 'the dataset name in the URL is not valid percent-encoding (UTF-8, as encodeURIComponent writes it)', { inDatasetName: true }));
    return encoded;
  }
}

/** The request body as JSON (an empty body is `{}`); undefined, and the call malformed, if it is not JSON. */
export async function readJsonBody(call: Call, request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      malformed(call, new InvalidInput('bad_request', `request body larger than ${MAX_BODY_BYTES} bytes`));
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    malformed(call, new InvalidInput('bad_request', `request body is not valid JSON: ${(error as Error).message}`));
    return undefined;
  }
}
