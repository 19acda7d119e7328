"""The Warden server extension: its configuration, the service's life, and kernels'
access. Who the service sees is decided in identity.py; the browser's requests are
proxied by handlers.py, which gets only the service endpoint and the token source.

Three modes:

* **embedded** (default): the Jupyter server starts the bundled service on a free
  loopback port with a fresh per-launch HS256 secret, and supervises it. Everything runs
  as the one OS user: a single-user mode (demo, laptop), see the README.
* **hub** (``Warden.service_url`` set, under JupyterHub): a central service, run as a hub
  service under its own OS user, identifies callers by their own hub token; nothing is
  signed here (identity.HubIdentity).
* **external** (``Warden.service_url`` set, no JupyterHub): a central service trusts
  HS256 tokens signed with the secret in the environment variable named by
  ``Warden.jwt_secret_env``. The variable is removed from this process's environment, but
  whoever can read this process's memory (its kernels, as the same OS user) can sign for
  anyone: for one user only.
"""

from __future__ import annotations

import ast
import contextlib
import os
import secrets
from pathlib import Path

from jupyter_core.paths import jupyter_config_dir
from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import PeriodicCallback
from traitlets import Float, Int, List, TraitError, Unicode, default, validate

from .. import _kernel_env
from .._contract import API_PREFIX
from .handlers import PROXY_PREFIX, ServiceProxyHandler
from .identity import HubIdentity, ServiceIdentity, running_under_hub
from .service import (
    ServiceEndpoint,
    ServiceProcess,
    ServiceStartError,
    free_loopback_port,
    secret_variables,
)
from .tokens import AUDIENCE, ISSUER, TokenMinter, write_private_file

BUNDLED_SERVICE = Path(__file__).resolve().parent.parent / "service" / "warden-service.cjs"


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
        self._token_refresher: PeriodicCallback | None = None
        self.kernel_token_file = os.path.join(
            self.serverapp.runtime_dir, f"warden-kernel-token-{os.getpid()}.jwt"
        )
        self._identity: ServiceIdentity | HubIdentity | None = None
        try:
            if self.service_url and running_under_hub():
                self._endpoint = self._configure_hub_service()
                self._identity = HubIdentity()
            else:
                if self.service_url:
                    secret, self._endpoint = self._configure_external_service()
                else:
                    secret, self._endpoint = self._configure_embedded_service()
                self._identity = ServiceIdentity(
                    TokenMinter(secret, self.token_audience, self.token_issuer),
                    self.serverapp.identity_provider,
                    self.principal,
                    browser_token_lifetime=self.token_lifetime_seconds,
                    kernel_token_lifetime=self.kernel_token_lifetime_seconds,
                )
        except ServiceStartError as exc:
            self.log.error("Warden is not available: %s", exc)
            self._endpoint = ServiceEndpoint(setup_error=str(exc))
            return
        self._give_kernels_access()

    def initialize_handlers(self) -> None:
        # Without an identity the endpoint has a set-up error, which the handler answers
        # before it would need a token.
        self.handlers.append(
            (
                rf"/{PROXY_PREFIX}.*",
                ServiceProxyHandler,
                {"upstream": self._endpoint, "credentials": self._identity},
            )
        )

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        if self._endpoint.setup_error:
            return
        if self._endpoint.process is not None:
            self._endpoint.process.start()
        if isinstance(self._identity, HubIdentity):
            return  # kernels use their own hub token: nothing to refresh
        self._token_refresher = PeriodicCallback(
            self._refresh_kernel_token, self.kernel_token_lifetime_seconds * 1000 / 3
        )
        self._token_refresher.start()

    async def stop_extension(self) -> None:
        if self._token_refresher is not None:
            self._token_refresher.stop()
        if self._endpoint.process is not None:
            await self._endpoint.process.stop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.kernel_token_file)

    # -- set-up --------------------------------------------------------------------------

    def _configure_hub_service(self) -> ServiceEndpoint:
        """The central service's endpoint; callers are identified by their hub tokens."""
        if os.environ.pop(self.jwt_secret_env, None):
            self.log.warning(
                "Warden: ignoring %s under JupyterHub (kernels could read it and sign for "
                "anyone); remove it from the spawner's environment",
                self.jwt_secret_env,
            )
        if self.principal:
            self.log.warning("Warden: Warden.principal is ignored under JupyterHub")
        endpoint = ServiceEndpoint(self.service_url.rstrip("/"))
        self.log.info(
            "Warden: using the service at %s with the owner's hub token", endpoint.base_url
        )
        return endpoint

    def _configure_external_service(self) -> tuple[str, ServiceEndpoint]:
        """The token secret, and the external service's endpoint."""
        # Removed from the environment so kernels cannot sign tokens for anybody.
        secret = os.environ.pop(self.jwt_secret_env, "")
        if not secret:
            raise ServiceStartError(
                f"Warden.service_url is {self.service_url} but the environment variable "
                f"{self.jwt_secret_env} (Warden.jwt_secret_env) holding the token secret is "
                "not set"
            )
        endpoint = ServiceEndpoint(self.service_url.rstrip("/"))
        self.log.info("Warden: using the external service at %s", endpoint.base_url)
        return secret, endpoint

    def _configure_embedded_service(self) -> tuple[str, ServiceEndpoint]:
        """A fresh token secret, and the endpoint of the service started with it."""
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
        port = self.service_port or free_loopback_port()
        base_url = f"http://127.0.0.1:{port}"
        command += ["--config", config_dir, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--exit-with-stdin"]
        service_env = {
            name: value for name, value in os.environ.items() if name not in _kernel_env.INHERITED
        }
        service_env[self.jwt_secret_env] = secret
        # The service's own secrets (database and Trino passwords) go to it alone: kernels
        # inherit this process's environment.
        for name in secret_variables(config_dir):
            os.environ.pop(name, None)
        process = ServiceProcess(
            command,
            env=service_env,
            health_url=f"{base_url}{API_PREFIX}/health",
            log=self.log,
            startup_timeout=self.service_startup_timeout,
        )
        return secret, ServiceEndpoint(base_url, process)

    def _give_kernels_access(self) -> None:
        """Kernels inherit this process's environment: put the service URL and a token
        there, and keep a fresh token in a private file for long-running kernels."""
        os.environ[_kernel_env.URL] = self._endpoint.base_url
        os.environ[_kernel_env.SERVER_ROOT] = self.serverapp.root_dir
        if isinstance(self._identity, HubIdentity):
            # Kernels inherit the owner's hub token, which warden.connect() uses.
            for name in (_kernel_env.TOKEN, _kernel_env.TOKEN_FILE):
                os.environ.pop(name, None)
            self.log.info("Warden: kernels use their hub token against %s", self._endpoint.base_url)
            return
        os.environ[_kernel_env.TOKEN_FILE] = self.kernel_token_file
        self._refresh_kernel_token()
        self.log.info(
            "Warden: kernels act as %r against %s",
            self._identity.kernel_principal,
            self._endpoint.base_url,
        )

    def _refresh_kernel_token(self) -> None:
        token = self._identity.kernel_token()
        write_private_file(self.kernel_token_file, token)
        os.environ[_kernel_env.TOKEN] = token
