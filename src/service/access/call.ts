/** A call: who asks through which client, as any transport learns it before the call runs. */
import { randomUUID } from 'node:crypto';
import { CLIENT_KINDS, ClientKind } from '../../common/api';
import { InvalidInput } from './errors';

export interface Call {
  /** Ties the call's audit records to its answer (Arrow metadata, a response header). */
  requestId: string;
  client: ClientKind;
  /** The notebook the call came from, when the client says (as sent, if it could not be read). */
  notebook: string | null;
  /**
   * What the transport could not read in the request (a header, the dataset name in the
   * path, the method, the body): the gateway refuses the call with it, audited.
   */
  malformed?: InvalidInput;
}

const MAX_NOTEBOOK_PATH = 1024;

/** A new call; a client kind Warden does not know is recorded as `api`. */
export function newCall(client: string | undefined, notebook: string | undefined): Call {
  return {
    requestId: randomUUID(),
    client: (CLIENT_KINDS as readonly string[]).includes(client ?? '') ? (client as ClientKind) : 'api',
    notebook: notebook ? notebook.slice(0, MAX_NOTEBOOK_PATH) : null
  };
}
