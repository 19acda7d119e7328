import type { TranslationBundle } from '@jupyterlab/translation';

import { isUnavailable } from './connection';
import { describeError, WardenRequestError } from './handler';

/** A failure as a user reads it: a short reason, and the technical text apart. */
export interface IExplainedError {
  /** One sentence for the user. */
  reason: string;
  /** What the server said, for a "details" disclosure; null when `reason` says it all. */
  detail: string | null;
  /** The failure passes by itself (the extension retries when the service is back). */
  transient: boolean;
}

/**
 * The service's own refusals ("alice may not read sales.orders") are written
 * for users and are shown as they are. Unavailability is not: the Jupyter
 * server reports a dead service with its exit code and last output, which
 * belongs in a disclosure, not in the sidebar.
 */
export function explainError(
  error: Error,
  trans: TranslationBundle
): IExplainedError {
  if (isUnavailable(error)) {
    const code = (error as WardenRequestError).code;
    return {
      reason:
        code === 'network_error'
          ? trans.__(
              'JupyterLab cannot reach its server. This recovers by itself when the server is back.'
            )
          : trans.__(
              'The Warden service is not answering, perhaps restarting. This recovers by itself when it is back.'
            ),
      detail: describeError(error),
      transient: true
    };
  }
  if (error instanceof WardenRequestError) {
    return {
      reason: error.message,
      detail: error.status
        ? trans.__('%1 (HTTP %2)', error.code, error.status)
        : error.code,
      transient: false
    };
  }
  return { reason: error.message, detail: null, transient: false };
}
