import React from 'react';

/** Loading, empty and error placeholders, in one recognisable shape. */
export function StateMessage(props: {
  state: 'loading' | 'empty' | 'error';
  message: string;
  detail?: string;
  action?: { label: string; onClick: () => void };
}): JSX.Element {
  const { state, message, detail, action } = props;
  return (
    <div
      className={`jp-warden-state jp-warden-state-${state}`}
      data-warden-state={state}
      role={state === 'error' ? 'alert' : 'status'}
    >
      <div className="jp-warden-state-message">{message}</div>
      {detail && <div className="jp-warden-state-detail">{detail}</div>}
      {action && (
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject jp-warden-state-action"
          onClick={action.onClick}
        >
          {action.label}
        </button>
      )}
    </div>
  );
}
