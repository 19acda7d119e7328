"""What a Warden-enabled Jupyter server puts in its kernels' environment, and reads back.

The server extension (warden/server) writes these variables; ``warden.connect()`` reads
them. Both use the names here.
"""

URL = "WARDEN_URL"
TOKEN = "WARDEN_TOKEN"
# A private file the server rewrites with a fresh token before the last one expires.
TOKEN_FILE = "WARDEN_TOKEN_FILE"
# The server's root directory, so notebooks are audited by the same root-relative path
# the browser extension reports.
SERVER_ROOT = "JUPYTER_SERVER_ROOT"
# Set by jupyter_server for kernels started for a notebook: the notebook's file path.
NOTEBOOK = "JPY_SESSION_NAME"
# Set by JupyterHub in a single-user server (and so in its kernels): the owner's own hub
# token. A Warden service run as a hub service identifies callers by it.
HUB_TOKEN = "JUPYTERHUB_API_TOKEN"

# What kernels inherit from the server; the service itself needs none of it.
INHERITED = (URL, TOKEN, TOKEN_FILE)
