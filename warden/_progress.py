"""A dependency-free progress line for long scans in IPython.

In a notebook the line is a display that updates in place; in a terminal IPython it is
rewritten with a carriage return on stderr. Outside IPython nothing is shown. Fast scans
show nothing either: the line appears only once a scan has run for ``delay`` seconds.
"""

from __future__ import annotations

import html
import sys
import time


def _format_bytes(nbytes: int) -> str:
    if nbytes < 1000:
        return f"{nbytes} B"
    size = nbytes / 1000
    for unit in ("kB", "MB"):
        if size < 1000:
            return f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


class _Line:
    """What IPython displays: plain text, or the same text styled as HTML."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f'<pre class="warden-progress" style="margin:0">{html.escape(self.text)}</pre>'


def _ipython_shell():
    # Only look for IPython if it is already running: never import it ourselves.
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


class ScanProgress:
    """Tracks rows and bytes received by one scan and shows them once it is slow."""

    def __init__(
        self, label: str, enabled: bool = True, delay: float = 1.0, interval: float = 0.25
    ):
        self._label = label
        self._shell = _ipython_shell() if enabled else None
        self._delay = delay
        self._interval = interval
        self._started = time.monotonic()
        self._last_shown = 0.0
        self._handle = None
        self._shown = False

    def update(self, rows: int, nbytes: int) -> None:
        if self._shell is None:
            return
        now = time.monotonic()
        elapsed = now - self._started
        if elapsed < self._delay or now - self._last_shown < self._interval:
            return
        self._last_shown = now
        size = _format_bytes(nbytes)
        self._show(f"Reading {self._label}: {rows:,} rows, {size} ({elapsed:.1f} s)")

    def finish(self, rows: int, nbytes: int, failed: bool = False) -> None:
        """Replace the line by a summary, if a line was shown at all."""
        if not self._shown:
            return
        elapsed = time.monotonic() - self._started
        if failed:
            text = f"Reading {self._label} failed after {rows:,} rows ({elapsed:.1f} s)"
        else:
            text = f"Read {self._label}: {rows:,} rows, {_format_bytes(nbytes)} in {elapsed:.1f} s"
        self._show(text, final=True)

    def _show(self, text: str, final: bool = False) -> None:
        line = _Line(text)
        if getattr(self._shell, "kernel", None) is not None:
            from IPython.display import display

            if self._handle is None:
                self._handle = display(line, display_id=True)
            else:
                self._handle.update(line)
        else:
            sys.stderr.write("\r" + text + ("\n" if final else ""))
            sys.stderr.flush()
        self._shown = True
