"""JupyterLab server for the Galata UI tests (see start-lab.sh)."""

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821 (c is the config object Jupyter provides)
c.ServerApp.allow_root = True  # noqa: F821 (CI runs as root)
c.ServerApp.ip = "127.0.0.1"  # noqa: F821
