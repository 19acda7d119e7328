"""The Jupyter server extension (imported by the Jupyter server only)."""

from .app import Warden

__all__ = ["Warden"]
