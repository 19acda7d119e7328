"""Warden: governed, per-user access to datasets from Jupyter.

In a kernel::

    import warden
    df = warden.connect().scan_as_pandas("drug_xyz.trial_july2020")

This module stays light: importing it loads neither jupyter_server nor pyarrow; the
server extension is imported only by the Jupyter server, through the hooks below.
"""

from .client import Client, connect
from .errors import (
    ConfigurationError,
    Forbidden,
    InvalidRequest,
    NotFound,
    Overloaded,
    ServiceError,
    ServiceUnavailable,
    Unauthenticated,
    WardenError,
)

__version__ = "0.1.0"

__all__ = [
    "Client",
    "ConfigurationError",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "Overloaded",
    "ServiceError",
    "ServiceUnavailable",
    "Unauthenticated",
    "WardenError",
    "connect",
]


def _jupyter_server_extension_points():
    from .server.app import Warden

    return [{"module": "warden", "app": Warden}]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyterlab-warden"}]
