"""``python -m warden token create|list|revoke``: job tokens for scheduled notebooks.

Run it in a terminal (or notebook) of your JupyterHub server. ``create`` asks the hub for a
token that can only read through Warden, as you, until it expires, checks that Warden accepts
it (else revokes it), and saves it in a file only you can read; a cron job or papermill run
then uses it with ``WARDEN_TOKEN_FILE``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import _kernel_env
from .client import Client
from .errors import ConfigurationError, WardenError
from .hub import JOB_SCOPE, JOB_TOKEN_NOTE, HubSession, parse_duration

DEFAULT_TOKEN_FILE = "~/.warden/job-token"


def _save_private(path: Path, text: str, replace: bool) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text + "\n")


def _service_url() -> str:
    url = os.environ.get(_kernel_env.URL)
    if not url:
        raise ConfigurationError(
            f"{_kernel_env.URL} is not set: run this in a terminal or notebook of your "
            "JupyterHub server with Warden, so that the new token is checked with Warden "
            "before it is saved",
            code="not_configured",
        )
    return url


def _check_with_warden(hub: HubSession, service_url: str, token: dict) -> dict:
    """Who Warden says the new token is; if Warden refuses it, revoke it and say why."""
    try:
        with Client(service_url, token=token["token"]) as client:
            return client.whoami()
    except WardenError as refusal:
        try:
            hub.revoke(token["id"])
            outcome = f"so it was revoked ({token['id']})"
        except WardenError as exc:
            outcome = (
                f"and revoking it failed ({exc}): revoke it with "
                f"`python -m warden token revoke {token['id']}`"
            )
        raise WardenError(
            f"Warden did not accept the new job token, {outcome} and nothing was saved. "
            f"Warden said: {refusal.message}",
            code=refusal.code,
            status=refusal.status,
        ) from refusal


def _create(arguments: argparse.Namespace) -> None:
    hub = HubSession.from_environment()
    service_url = _service_url()
    expires_in = parse_duration(arguments.expires)
    path = None if arguments.file == "-" else Path(arguments.file).expanduser()
    previous = None
    if path is not None and path.exists():
        if not arguments.replace:
            raise WardenError(
                f"{path} already holds a job token: pass --replace to replace it (the previous "
                "token is revoked once the new one works), or --file to save the new one "
                "elsewhere",
                code="exists",
            )
        previous = path.read_text(encoding="utf-8").strip()
    token = hub.create_job_token(expires_in, arguments.note)
    who = _check_with_warden(hub, service_url, token)
    if path is None:
        print(token["token"])
        return
    _save_private(path, token["token"], replace=previous is not None)
    print(
        f"Job token {token['id']} ({JOB_SCOPE}) expires {token['expires_at']}; Warden reads "
        f"with it as {who['user']}; saved to {path}."
    )
    if previous is not None:
        previous_id = hub.own_token_id(previous) if previous else None
        if previous_id is None:
            print(f"The token {path} held before was no longer valid: nothing to revoke.")
        else:
            hub.revoke(previous_id)
            print(f"Revoked the job token {path} held before ({previous_id}).")
    print(
        "Run a notebook as yourself, for example from cron:\n"
        f"  WARDEN_URL={service_url} WARDEN_TOKEN_FILE={path} papermill in.ipynb out.ipynb\n"
        f"Revoke it with: python -m warden token revoke {token['id']}"
    )


def _list(_arguments: argparse.Namespace) -> None:
    tokens = HubSession.from_environment().job_tokens()
    if not tokens:
        print("no job tokens")
    for token in tokens:
        expires, used = token["expires_at"], token["last_activity"]
        print(f"{token['id']}  expires {expires}  last used {used}  {token['note']}")


def _revoke(arguments: argparse.Namespace) -> None:
    HubSession.from_environment().revoke(arguments.id)
    print(f"revoked {arguments.id}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warden", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="job tokens (JupyterHub)")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a read-only job token that expires")
    create.add_argument(
        "--expires", default="30d", help="lifetime, e.g. 12h, 30d, 2w (default 30d)"
    )
    create.add_argument(
        "--note",
        default=JOB_TOKEN_NOTE,
        help="what the token is for (shown on the hub's token page)",
    )
    create.add_argument(
        "--file",
        default=DEFAULT_TOKEN_FILE,
        help=f"where to save it, readable by you only (default {DEFAULT_TOKEN_FILE}; - prints it)",
    )
    create.add_argument(
        "--replace",
        action="store_true",
        help="replace the token in --file, revoking it once the new one works",
    )
    create.set_defaults(run=_create)
    actions.add_parser("list", help="your job tokens").set_defaults(run=_list)
    revoke = actions.add_parser("revoke", help="revoke a job token by id")
    revoke.add_argument("id")
    revoke.set_defaults(run=_revoke)
    arguments = parser.parse_args(argv)
    try:
        arguments.run(arguments)
    except (WardenError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
