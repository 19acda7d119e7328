"""The Warden server extension: configuration, identity, tokens and the service's life.

Two modes:

* **embedded** (default): the Jupyter server starts the bundled service on a free
  loopback port with a fresh per-launch HS256 secret, and supervises it.
* **external** (``Warden.service_url`` set): a central service runs elsewhere and
  trusts HS256 tokens signed with the secret found in the environment variable named by
  ``Warden.jwt_secret_env``. The variable is removed from this process's environment so
  kernels cannot mint tokens for other users.

Identity (who the service sees):

* browser requests: ``Warden.principal`` if set; otherwise, with Jupyter's own local
  identity providers (token or password login, which give users random names), the OS
  user; otherwise (JupyterHub, or any other identity provider) the authenticated
  Jupyter user's name.
* kernels act as the workspace owner: ``Warden.principal`` if set, else
  ``JUPYTERHUB_USER`` when running under JupyterHub, else the OS user.
"""

from __future__ import annotations

import ast
import getpass
import os
import secrets
from pathlib import Path

from jupyter_core.paths import jupyter_config_dir
from jupyter_server.auth.identity import (
    IdentityProvider,
    LegacyIdentityProvider,
    PasswordIdentityProvider,
    User,
)
from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import PeriodicCallback
from traitlets import Float, Int, List, TraitError, Unicode, default, validate

from .handlers import PROXY_PREFIX, ServiceProxyHandler
from .service import ServiceProcess, ServiceStartError, free_loopback_port
from .tokens import AUDIENCE, ISSUER, TokenMinter, write_private_file

BUNDLED_SERVICE = Path(__file__).resolve().parent.parent / "service" / "warden-service.cjs"
# What kernels inherit; the service itself needs none of it.
KERNEL_ENV_NAMES = ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_TOKEN_FILE")
LOCAL_IDENTITY_PROVIDERS = (IdentityProvider, PasswordIdentityProvider, LegacyIdentityProvider)


class Warden(ExtensionApp):
    """Governed dataset access for JupyterLab: runs or reaches the Warden service,
    proxies the browser's requests with the user's identity, and gives kernels a URL
    and token."""

    name = "warden"
    load_other_extensions = True

    config_dir = Unicode(
        help="Configuration directory of the embedded service (warden.yaml, directory.yaml, "
        "catalog/, policies/). Default: $WARDEN_CONFIG_DIR, else <jupyter config dir>/warden."
    ).tag(config=True)

    @default("config_dir")
    def _default_config_dir(self) -> str:
        return os.environ.get("WARDEN_CONFIG_DIR") or os.path.join(jupyter_config_dir(), "warden")

    service_url = Unicode(
        "",
        help="Base URL of an external Warden service (e.g. https://warden.example.com). "
        "When set, no service is started.",
    ).tag(config=True)

    jwt_secret_env = Unicode(
        "WARDEN_JWT_SECRET",
        help="Environment variable holding the HS256 secret. Embedded: the service is given "
        "a fresh secret in this variable. External: the secret is read from it.",
    ).tag(config=True)

    token_audience = Unicode(AUDIENCE, help="`aud` claim of minted tokens.").tag(config=True)
    token_issuer = Unicode(ISSUER, help="`iss` claim of minted tokens.").tag(config=True)

    principal = Unicode(
        None,
        allow_none=True,
        help="The user the service sees for everything done through this server. Default: "
        "the OS user on a plain local server, the authenticated user under JupyterHub.",
    ).tag(config=True)

    node = Unicode("node", help="The Node.js executable running the bundled service.").tag(
        config=True
    )

    service_command = List(
        Unicode(),
        help="Command starting the service instead of `<node> <bundled service>`, e.g. "
        '["npx", "tsx", "src/service/main.ts"] in a development checkout. '
        "`--config <dir> --host 127.0.0.1 --port <port>` are appended.",
    ).tag(config=True)

    @validate("service_command")
    def _validate_service_command(self, proposal) -> list[str]:
        command = proposal["value"]
        # `--Warden.service_command='["npx", "tsx", ...]'` on the jupyter command line
        # arrives as one string (ServerApp does not know this trait's type): unpack it.
        if len(command) == 1 and command[0].startswith("[") and command[0].endswith("]"):
            try:
                parsed = ast.literal_eval(command[0])
            except (ValueError, SyntaxError) as exc:
                raise TraitError(f"Warden.service_command: cannot parse {command[0]}") from exc
            if not isinstance(parsed, list) or not all(isinstance(part, str) for part in parsed):
                raise TraitError(f"Warden.service_command must be a list of strings: {command[0]}")
            return parsed
        return command

    service_port = Int(
        0, min=0, max=65535, help="Port of the embedded service; 0 picks a free one."
    ).tag(config=True)

    service_startup_timeout = Float(
        60, min=0, help="Seconds the embedded service may take to answer its health check."
    ).tag(config=True)

    token_lifetime_seconds = Int(
        300, min=1, help="Lifetime of the tokens minted for each proxied browser request."
    ).tag(config=True)

    kernel_token_lifetime_seconds = Int(
        12 * 3600,
        min=3,
        help="Lifetime of kernel tokens. The token file is rewritten every third of it, so "
        "long-running kernels keep working.",
    ).tag(config=True)

    def initialize_settings(self) -> None:
        self._service: ServiceProcess | None = None
        self._service_base_url = ""
        self._setup_error: str | None = None
        self._token_refresher: PeriodicCallback | None = None
        self.kernel_token_file = os.path.join(
            self.serverapp.runtime_dir, f"warden-kernel-token-{os.getpid()}.jwt"
        )
        try:
            if self.service_url:
                self._configure_external_service()
            else:
                self._configure_embedded_service()
        except ServiceStartError as exc:
            self._setup_error = str(exc)
            self.log.error("Warden is not available: %s", exc)
            return
        self._give_kernels_access()

    def initialize_handlers(self) -> None:
        self.handlers.append((rf"/{PROXY_PREFIX}.*", ServiceProxyHandler, {"warden": self}))

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        if self._setup_error:
            return
        if self._service is not None:
            self._service.start()
        self._token_refresher = PeriodicCallback(
            self._refresh_kernel_token, self.kernel_token_lifetime_seconds * 1000 / 3
        )
        self._token_refresher.start()

    async def stop_extension(self) -> None:
        if self._token_refresher is not None:
            self._token_refresher.stop()
        if self._service is not None:
            await self._service.stop()
        try:
            os.unlink(self.kernel_token_file)
        except FileNotFoundError:
            pass

    # -- what the handlers use -------------------------------------------------------------

    async def service_url_when_ready(self) -> str:
        if self._setup_error:
            raise ServiceStartError(self._setup_error)
        if self._service is not None:
            await self._service.wait_ready()
        return self._service_base_url

    def principal_for(self, user: User) -> str:
        """Who the service sees for a browser request by this Jupyter user."""
        if self.principal or not knows_real_user_names(self.serverapp.identity_provider):
            return self.effective_principal
        return user.username

    def mint_browser_token(self, user: str) -> str:
        return self._minter.mint(user, self.token_lifetime_seconds)

    @property
    def effective_principal(self) -> str:
        return self.principal or getpass.getuser()

    @property
    def kernel_principal(self) -> str:
        return self.principal or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()

    # -- set-up --------------------------------------------------------------------------

    def _configure_external_service(self) -> None:
        # Removed from the environment so kernels cannot sign tokens for anybody.
        secret = os.environ.pop(self.jwt_secret_env, "")
        if not secret:
            raise ServiceStartError(
                f"Warden.service_url is {self.service_url} but the environment variable "
                f"{self.jwt_secret_env} (Warden.jwt_secret_env) holding the token secret is "
                "not set"
            )
        self._minter = TokenMinter(secret, self.token_audience, self.token_issuer)
        self._service_base_url = self.service_url.rstrip("/")
        self.log.info("Warden: using the external service at %s", self._service_base_url)

    def _configure_embedded_service(self) -> None:
        config_dir = os.path.abspath(self.config_dir)
        if not os.path.isfile(os.path.join(config_dir, "warden.yaml")):
            raise ServiceStartError(
                f"the service configuration directory {config_dir} has no warden.yaml. "
                "Set Warden.config_dir (or WARDEN_CONFIG_DIR), or Warden.service_url for an "
                "external service"
            )
        command = list(self.service_command) or [self.node, str(BUNDLED_SERVICE)]
        if not self.service_command and not BUNDLED_SERVICE.is_file():
            raise ServiceStartError(
                f"the bundled service {BUNDLED_SERVICE} is missing: run `npm run "
                "build:service`, or set Warden.service_command (e.g. "
                '["npx", "tsx", "src/service/main.ts"]) in a development checkout'
            )
        secret = secrets.token_hex(32)
        self._minter = TokenMinter(secret, self.token_audience, self.token_issuer)
        port = self.service_port or free_loopback_port()
        self._service_base_url = f"http://127.0.0.1:{port}"
        command += ["--config", config_dir, "--host", "127.0.0.1", "--port", str(port), "--exit-with-stdin"]
        service_env = {
            name: value for name, value in os.environ.items() if name not in KERNEL_ENV_NAMES
        }
        service_env[self.jwt_secret_env] = secret
        self._service = ServiceProcess(
            command,
            env=service_env,
            health_url=f"{self._service_base_url}/api/v1/health",
            log=self.log,
            startup_timeout=self.service_startup_timeout,
        )

    def _give_kernels_access(self) -> None:
        """Kernels inherit this process's environment: put the service URL and a token
        there, and keep a fresh token in a private file for long-running kernels."""
        os.environ["WARDEN_URL"] = self._service_base_url
        # Lets the client report notebooks by root-relative path, as the browser does.
        os.environ["JUPYTER_SERVER_ROOT"] = self.serverapp.root_dir
        os.environ["WARDEN_TOKEN_FILE"] = self.kernel_token_file
        self._refresh_kernel_token()
        self.log.info(
            "Warden: kernels act as %r against %s", self.kernel_principal, self._service_base_url
        )

    def _refresh_kernel_token(self) -> None:
        token = self._minter.mint(self.kernel_principal, self.kernel_token_lifetime_seconds)
        write_private_file(self.kernel_token_file, token)
        os.environ["WARDEN_TOKEN"] = token


def knows_real_user_names(identity_provider: IdentityProvider) -> bool:
    """Jupyter's own token and password providers name users randomly; any other
    provider (JupyterHub's is a subclass) identifies real users."""
    return type(identity_provider) not in LOCAL_IDENTITY_PROVIDERS
