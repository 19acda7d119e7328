"""JupyterHub configuration of Warden's multi-user deployment (scripts/hub).

Installed by scripts/hub/install.sh and run by scripts/hub/start.sh (as root, umask 077),
which sets the WARDEN_HUB_* variables read below. No secret is written here: the OAuth
client secret and the operator's token are read from root-only files of the hub's state.

- Authentication: the deployment's OpenID Connect provider (scripts/hub/idp) through
  oauthenticator's GenericOAuthenticator, the path an enterprise takes with its own IdP
  (Keycloak, Entra ID, Okta...). The IdP's `groups` claim becomes the user's hub groups at
  each login (manage_groups), and hub groups are Warden groups.
- Users are separate OS users; LocalProcessSpawner starts each one's JupyterLab as that user.
- Warden runs as a hub-managed service, as its own OS user `warden`, the only one able to
  read its configuration, masking key, audit log and lake. It identifies callers by their own
  hub tokens (warden/hub.py explains the two scopes).
"""

import json
import os
from pathlib import Path

from warden.hub import JOB_SCOPE, READ_SCOPE

c = get_config()  # noqa: F821 (provided by JupyterHub)

prefix = Path(os.environ["WARDEN_HUB_PREFIX"])
state = Path(os.environ["WARDEN_HUB_STATE"])
public_port = int(os.environ["WARDEN_HUB_PORT"])
hub_port = int(os.environ["WARDEN_HUB_API_PORT"])
proxy_api_port = int(os.environ["WARDEN_HUB_PROXY_API_PORT"])
idp_port = int(os.environ["WARDEN_HUB_IDP_PORT"])
warden_port = int(os.environ["WARDEN_HUB_SERVICE_PORT"])
warden_url = f"http://127.0.0.1:{warden_port}"
public_url = f"http://127.0.0.1:{public_port}"
issuer = f"http://127.0.0.1:{idp_port}"

# -- the hub and its proxy, on loopback ------------------------------------------------------
c.JupyterHub.bind_url = public_url
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [
    str(prefix / "node" / "node_modules" / ".bin" / "configurable-http-proxy")
]
c.JupyterHub.db_url = f"sqlite:///{state / 'hub' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "hub" / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True
# Tokens created through the API (the token page, `python -m warden token create`) expire
# within 90 days; only a server's own token, made at spawn and deleted at stop, never expires.
# Warden relies on it (a read-scoped token that expires is not a server's) and applies its own,
# shorter bound to job tokens (30 days, identity.hub.max_token_lifetime_seconds in warden.yaml).
c.JupyterHub.token_expires_in_max_seconds = 90 * 24 * 3600

# -- who may log in: the identity provider's users in Warden's groups -------------------------
oauth_client = json.loads((state / "hub" / "oauth-client.json").read_text())
c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.login_service = "Warden demo IdP"
c.GenericOAuthenticator.client_id = oauth_client["client_id"]
c.GenericOAuthenticator.client_secret = oauth_client["client_secret"]
c.GenericOAuthenticator.basic_auth = True
c.GenericOAuthenticator.oauth_callback_url = f"{public_url}/hub/oauth_callback"
c.GenericOAuthenticator.authorize_url = f"{issuer}/auth"
c.GenericOAuthenticator.token_url = f"{issuer}/token"
c.GenericOAuthenticator.userdata_url = f"{issuer}/me"
c.GenericOAuthenticator.scope = ["openid", "profile", "email", "groups"]
c.GenericOAuthenticator.username_claim = "preferred_username"
c.GenericOAuthenticator.manage_groups = True
c.GenericOAuthenticator.auth_state_groups_key = "oauth_user.groups"
c.GenericOAuthenticator.allowed_groups = {
    "analysts",
    "privacy-officers",
    "contractors",
    "compliance",
}

# -- scopes: what hub tokens may do with Warden ---------------------------------------------
c.JupyterHub.custom_scopes = {
    READ_SCOPE: {
        "description": "Read governed datasets through Warden as yourself, from your sessions."
    },
    JOB_SCOPE: {
        "description": "Read governed datasets through Warden as yourself, from a scheduled job."
    },
}
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", f"{READ_SCOPE}!user", f"{JOB_SCOPE}!user"]},
    # The service reads the creation and expiry of the tokens it is shown (never their values),
    # and when its owner's servers started: the read scope counts only on a running server's
    # own token (src/service/identity/hub.ts).
    {"name": "warden-service", "services": ["warden"], "scopes": ["read:tokens", "read:servers"]},
    {"name": "admin", "services": ["operator"]},
]
c.JupyterHub.services = [
    {
        "name": "warden",
        "url": warden_url,
        "display": False,
        "user": "warden",
        "cwd": str(state / "warden"),
        "command": [
            os.environ["WARDEN_HUB_NODE"],
            os.environ["WARDEN_HUB_SERVICE_BUNDLE"],
            "--config",
            str(state / "warden" / "config"),
            "--host",
            "127.0.0.1",
            "--port",
            str(warden_port),
        ],
    },
    # The operator's admin token (root-only file): scripts and tests manage users with it.
    {"name": "operator", "api_token": (state / "hub" / "operator-token").read_text().strip()},
]

# -- single-user servers: JupyterLab with Warden, as the user's own OS account ---------------
c.Spawner.cmd = [str(prefix / "venv" / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.args = [f"--Warden.service_url={warden_url}"]
c.Spawner.environment = {"PATH": f"{prefix / 'venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin"}
# The server's own token: its default (server role) plus reading through Warden, and creating
# the user's own tokens (for `python -m warden token create`).
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    f"{READ_SCOPE}!user",
    "tokens!user",
]
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 180
