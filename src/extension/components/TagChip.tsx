import React from 'react';

/**
 * A tag; a toggle button when `onToggle` is given, plain text otherwise.
 * Toggles are out of the tab order: from the search box, Tab goes straight to
 * the datasets, and typing a tag in the search box filters by it too.
 */
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
      tabIndex={-1}
      onClick={() => onToggle(tag)}
    >
      {tag}
    </button>
  );
}
