import type { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { explainError } from '../errors';

/** Loading, empty and error placeholders, in one recognisable shape. */
export function StateMessage(props: {
  state: 'loading' | 'empty' | 'error';
  message: string;
  /** A second sentence: why, and what happens next. */
  reason?: string;
  /** Technical text, folded away behind `disclosure`. */
  detail?: string | null;
  disclosure?: string;
  action?: { label: string; onClick: () => void };
}): JSX.Element {
  const { state, message, reason, detail, disclosure, action } = props;
  return (
    <div
      className={`jp-warden-state jp-warden-state-${state}`}
      data-warden-state={state}
      role={state === 'error' ? 'alert' : 'status'}
    >
      <div className="jp-warden-state-message">{message}</div>
      {reason && <div className="jp-warden-state-reason">{reason}</div>}
      {action && (
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject jp-warden-state-action"
          onClick={action.onClick}
        >
          {action.label}
        </button>
      )}
      {detail && (
        <details className="jp-warden-state-detail">
          <summary>{disclosure}</summary>
          <pre>{detail}</pre>
        </details>
      )}
    </div>
  );
}

/** A failed load: what failed, why in plain words, and the server's text folded away. */
export function ErrorMessage(props: {
  message: string;
  error: Error;
  trans: TranslationBundle;
  retry?: () => void;
}): JSX.Element {
  const { message, error, trans, retry } = props;
  const explained = explainError(error, trans);
  return (
    <StateMessage
      state="error"
      message={message}
      reason={explained.reason}
      detail={explained.detail}
      disclosure={trans.__('Details')}
      action={retry && { label: trans.__('Retry'), onClick: retry }}
    />
  );
}
