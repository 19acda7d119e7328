"""An identity provider that, like JupyterHub's, knows real user names (here taken
from a request header, for tests). Without the header: Jupyter's token login."""

from jupyter_server.auth.identity import IdentityProvider, User


class HeaderIdentityProvider(IdentityProvider):
    async def get_user(self, handler):
        name = handler.request.headers.get("X-Test-User")
        if name:
            return User(username=name)
        return await super().get_user(handler)
