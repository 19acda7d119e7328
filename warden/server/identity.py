"""Who the service sees, and the credentials that say so. Two sources of identity:

``ServiceIdentity`` signs tokens with a secret the service shares (the embedded service, or
an external one trusting that secret):

* browser requests: the configured principal if set; otherwise, with Jupyter's own local
  identity providers (token or password login, which give users random names), the OS
  user; otherwise (JupyterHub, or any other identity provider) the authenticated
  Jupyter user's name.
* kernels act as the workspace owner: the configured principal if set, else
  ``JUPYTERHUB_USER`` when running under JupyterHub, else the OS user.

``HubIdentity``, under JupyterHub with a central service run as a hub service: the
server owner's own hub token (``JUPYTERHUB_API_TOKEN``, which the hub gives the server with
the ``custom:warden:read`` scope) is the credential, and the service asks the hub whose token
it is. Browser requests are forwarded with it; kernels, which inherit it, use it directly.
Nothing is signed here, so nothing in this process lets anyone act as another user.

Everything that decides identity is here, so another source of identity replaces this
module only.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping

from jupyter_server.auth.identity import (
    IdentityProvider,
    LegacyIdentityProvider,
    PasswordIdentityProvider,
    User,
)

from .._kernel_env import HUB_TOKEN
from ..errors import Forbidden
from .tokens import TokenMinter

HUB_USER = "JUPYTERHUB_USER"

LOCAL_IDENTITY_PROVIDERS = (IdentityProvider, PasswordIdentityProvider, LegacyIdentityProvider)


def knows_real_user_names(identity_provider: IdentityProvider) -> bool:
    """Jupyter's own token and password providers name users randomly; any other
    provider (JupyterHub's is a subclass) identifies real users."""
    return type(identity_provider) not in LOCAL_IDENTITY_PROVIDERS


class ServiceIdentity:
    """Mints the service tokens of browser requests and of kernels."""

    def __init__(
        self,
        minter: TokenMinter,
        identity_provider: IdentityProvider,
        principal: str | None,
        browser_token_lifetime: int,
        kernel_token_lifetime: int,
    ):
        self._minter = minter
        self._identity_provider = identity_provider
        self._principal = principal
        self._browser_token_lifetime = browser_token_lifetime
        self._kernel_token_lifetime = kernel_token_lifetime

    def principal_for(self, user: User) -> str:
        """Who the service sees for a browser request by this Jupyter user."""
        if self._principal or not knows_real_user_names(self._identity_provider):
            return self._principal or getpass.getuser()
        return user.username

    @property
    def kernel_principal(self) -> str:
        return self._principal or os.environ.get(HUB_USER) or getpass.getuser()

    def browser_token(self, user: User) -> str:
        return self._minter.mint(self.principal_for(user), self._browser_token_lifetime)

    def kernel_token(self) -> str:
        return self._minter.mint(self.kernel_principal, self._kernel_token_lifetime)


def running_under_hub(environ: Mapping[str, str] = os.environ) -> bool:
    """A JupyterHub single-user server: the hub gave it its owner and a token."""
    return bool(environ.get(HUB_TOKEN) and environ.get(HUB_USER))


class HubIdentity:
    """The server owner's hub token, for the owner's browser requests (kernels inherit it).

    The token is the owner's: a visitor the hub lets into this server (an admin, or someone
    it is shared with) is refused rather than shown the owner's data.
    """

    def __init__(self, environ: Mapping[str, str] = os.environ):
        self.owner = environ[HUB_USER]
        self._token = environ[HUB_TOKEN]

    @property
    def kernel_principal(self) -> str:
        return self.owner

    def browser_token(self, user: User) -> str:
        if user.username != self.owner:
            raise Forbidden(
                f"Warden acts only for the owner of this server ({self.owner}); you are "
                f"signed in as {user.username}. Open Warden from your own server.",
                code="forbidden",
            )
        return self._token
