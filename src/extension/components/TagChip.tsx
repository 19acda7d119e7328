import React from 'react';

/** A tag; a toggle button when `onToggle` is given, plain text otherwise. */
export function TagChip(props: {
  tag: string;
  active?: boolean;
  onToggle?: (tag: string) => void;
}): JSX.Element {
  const { tag, active, onToggle } = props;
  if (!onToggle) {
    return (
      <span className="jp-warden-tag" data-warden-tag={tag}>
        {tag}
      </span>
    );
  }
  return (
    <button
      type="button"
      className={`jp-warden-tag jp-warden-tag-chip${active ? ' jp-mod-active' : ''}`}
      data-warden-tag={tag}
      aria-pressed={!!active}
      onClick={() => onToggle(tag)}
    >
      {tag}
    </button>
  );
}
