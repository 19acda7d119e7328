"""Scheduled jobs as their owner: alice creates job tokens with `python -m warden token` in her
server, stops it, and a notebook runs headless as OS user alice (`jupyter nbconvert --execute`,
as cron would) with the job token: her governed view, audited as client `job`. Refused: tokens
Warden would not accept (the CLI revokes them instead of saving them), revoked, expired and too
long-lived tokens, job tokens holding more than the job scope, read-scoped tokens that are not a
running server's own, and her stopped server's token; refusals the hub could attribute are
audited as hers."""

from __future__ import annotations

import json
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path

import requests

from deployment import PREFIX, REPO, TRIAL
from expected import canonical, governed_trial

JOB_CELL = (
    "import json, warden\n"
    "client = warden.connect()\n"
    f"rows = client.scan_as_arrow('{TRIAL}', progress=False).to_pylist()\n"
    "print(json.dumps({'whoami': client.whoami(), 'rows': rows}, default=str))"
)

# Tokens alice makes herself with her server's token (which may create her tokens), as the
# acceptance review did from her kernel, saved where a cron job would read them; each prints
# what Warden answers to it while her server runs.
HOMEMADE_TOKENS = {
    # a job token that could also mint tokens after her server stopped
    "minting-token": {"scopes": ["custom:warden:job!user", "tokens!user"], "expires_in": 3600},
    # a job token valid longer than Warden allows (the hub allows 90 days)
    "long-token": {"scopes": ["custom:warden:job!user"], "expires_in": 60 * 86400},
    # the session scope on a token made through the API: not her server's own
    "read-token": {"scopes": ["custom:warden:read!user"], "expires_in": 29 * 86400},
}
MAKE_HOMEMADE_TOKENS = (
    "import json, os, pathlib, requests\n"
    "api, own = os.environ['JUPYTERHUB_API_URL'], os.environ['JUPYTERHUB_API_TOKEN']\n"
    "def whoami(token):\n"
    "    return requests.get(os.environ['WARDEN_URL'] + '/api/v1/whoami',\n"
    "        headers={'Authorization': f'Bearer {token}'}, timeout=30).json()\n"
    "answers = {'server-token': whoami(own)}\n"
    f"for name, body in {HOMEMADE_TOKENS!r}.items():\n"
    "    made = requests.post(f'{api}/users/alice/tokens', json=body,\n"
    "        headers={'Authorization': f'token {own}'}, timeout=30)\n"
    "    made.raise_for_status()\n"
    "    token = made.json()['token']\n"
    "    path = pathlib.Path.home() / '.warden' / name\n"
    "    path.write_text(token + '\\n')\n"
    "    path.chmod(0o600)\n"
    "    answers[name] = whoami(token)\n"
    "print(json.dumps(answers))"
)
# How long the service trusts a hub answer (scripts/hub/warden.yaml, identity.hub.cache_seconds).
HUB_CACHE_SECONDS = int(
    re.search(
        r"cache_seconds: (\d+)", (REPO / "scripts" / "hub" / "warden.yaml").read_text()
    ).group(1)
)

ALICE = {
    "user": "alice",
    "groups": ["analysts"],
    "attributes": {"region": "US", "clearance": "standard"},
}
# What Warden says of each refused token (the start of its message), and whom the audit names.
REFUSALS = {
    "minting-token": (
        "this job token also holds read:tokens!user=alice, tokens!user=alice: a job token may "
        "hold only custom:warden:job",
        "alice",
    ),
    "long-token": (
        "this job token is valid for 60 days, longer than the maximum of 30 days",
        "alice",
    ),
    "read-token": ("this hub token expires (", "alice"),
    # Revoked or expired: the hub no longer says whose it was.
    "revoked-token": ("JupyterHub does not accept this token", None),
    "short-token": ("JupyterHub does not accept this token", None),
}
READ_IS_THE_SERVERS = (
    "custom:warden:read is your server's own; for jobs use `python -m warden token create`"
)


def token_command(kernel, *arguments: str) -> tuple[int, str]:
    """`python -m warden token ...` in a kernel of alice's server, as she would run it in a
    terminal there: its exit status and what it printed."""
    return tuple(
        kernel.run_json(
            "import json, subprocess, sys\n"
            "done = subprocess.run([sys.executable, '-m', 'warden', 'token', "
            f"*{list(arguments)!r}], capture_output=True, text=True)\n"
            "print(json.dumps([done.returncode, done.stdout + done.stderr]))"
        )
    )


def create_token(kernel, *arguments: str) -> dict:
    status, output = token_command(kernel, "create", *arguments)
    assert status == 0 and output.startswith("Job token "), output
    return {"id": output.split()[2], "output": output}


def home_of(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


def token_in(file_name: str) -> str:
    return (home_of("alice") / ".warden" / file_name).read_text().strip()


def hub_token_ids(hub, user: str) -> set[str]:
    return {
        token["id"] for token in hub.operator("GET", f"/users/{user}/tokens").json()["api_tokens"]
    }


def whoami_with(hub, token: str) -> requests.Response:
    return requests.get(
        f"{hub.service_url}/api/v1/whoami",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def run_job(hub, token_file: str) -> subprocess.CompletedProcess:
    """The job notebook, headless, as OS user alice, with nothing but the job token."""
    home = home_of("alice")
    return subprocess.run(
        [
            "runuser",
            "-u",
            "alice",
            "--",
            "env",
            "-i",
            f"HOME={home}",
            "USER=alice",
            "LANG=C.UTF-8",
            f"PATH={PREFIX / 'venv' / 'bin'}:/usr/bin:/bin",
            f"WARDEN_URL={hub.service_url}",
            f"WARDEN_TOKEN_FILE={home}/.warden/{token_file}",
            str(PREFIX / "venv" / "bin" / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--output",
            f"report-{token_file}.ipynb",
            f"{home}/jobs/report.ipynb",
        ],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )


def job_output(token_file: str) -> dict:
    notebook = json.loads((home_of("alice") / "jobs" / f"report-{token_file}.ipynb").read_text())
    # nbformat keeps multi-line text as a list of lines
    text = "".join(
        "".join(output["text"])
        for output in notebook["cells"][0]["outputs"]
        if output.get("name") == "stdout"
    )
    return json.loads(text.strip().splitlines()[-1])


def test_a_job_runs_headless_as_its_owner_after_her_server_stopped(hub, alice, raw_trial):
    alice.put_notebook("jobs/report.ipynb", [JOB_CELL])
    # The hub's state outlives a run of the suite: start without the token files of the last.
    shutil.rmtree(home_of("alice") / ".warden", ignore_errors=True)
    kernel = alice.kernel("tokens.ipynb")
    try:
        first = create_token(kernel, "--expires", "1h")
        assert "saved to /home/alice/.warden/job-token" in first["output"]
        first_token = token_in("job-token")

        # An existing token file is not replaced without --replace; no token is made.
        tokens_before = hub_token_ids(hub, "alice")
        status, output = token_command(kernel, "create", "--expires", "1h")
        assert status == 1 and "already holds a job token: pass --replace" in output, output
        assert hub_token_ids(hub, "alice") == tokens_before and token_in("job-token") == first_token
        # With --replace, the previous token is revoked once the new one works.
        job = create_token(kernel, "--expires", "1h", "--replace")
        assert (
            f"Revoked the job token /home/alice/.warden/job-token held before ({first['id']})"
            in job["output"]
        )
        assert (
            first["id"] not in hub_token_ids(hub, "alice") and token_in("job-token") != first_token
        )

        # A lifetime Warden refuses: the CLI says so in Warden's words, revokes it, saves nothing.
        # (The hub may give the next token a revoked token's id: ids are compared right away.)
        tokens_before = hub_token_ids(hub, "alice")
        status, refused_output = token_command(
            kernel, "create", "--expires", "31d", "--file", "~/.warden/too-long-token"
        )
        assert status == 1 and (
            "Warden did not accept the new job token, so it was revoked" in refused_output
            and "Warden said: this job token is valid for 31 days, longer than the maximum of 30 "
            "days"
            in refused_output
        ), refused_output
        assert hub_token_ids(hub, "alice") == tokens_before
        assert not (home_of("alice") / ".warden" / "too-long-token").exists()

        short = create_token(kernel, "--expires", "10s", "--file", "~/.warden/short-token")
        short_expiry = time.time() + 10
        revoked = create_token(kernel, "--expires", "1h", "--file", "~/.warden/revoked-token")
        assert token_command(kernel, "revoke", revoked["id"]) == (0, f"revoked {revoked['id']}\n")
        assert revoked["id"] not in hub_token_ids(hub, "alice")
        _, listed = token_command(kernel, "list")
        while_running = kernel.run_json(MAKE_HOMEMADE_TOKENS)
        server_token = kernel.run("import os; print(os.environ['JUPYTERHUB_API_TOKEN'])").strip()
    finally:
        kernel.close()
    assert {job["id"], short["id"]} <= set(listed.split())
    assert (home_of("alice") / ".warden" / "job-token").stat().st_mode & 0o077 == 0

    # What the hub reports for a job token made by the CLI: exactly what Warden allows a job
    # token to hold (JOB_TOKEN_SCOPES in src/service/identity/hub.ts).
    model = requests.get(
        f"{hub.api_url}/user",
        headers={"Authorization": f"token {token_in('job-token')}"},
        timeout=30,
    ).json()
    assert model["scopes"] == [
        "custom:warden:job!user=alice",
        "read:users:groups!user=alice",
        "read:users:name!user=alice",
    ]
    # While her server runs, its own token reads as her; her home-made tokens are refused.
    assert while_running["server-token"] == ALICE
    for name in HOMEMADE_TOKENS:
        message = while_running[name]["error"]["message"]
        assert message.startswith(REFUSALS[name][0]), (name, message)
    assert while_running["read-token"]["error"]["message"].endswith(READ_IS_THE_SERVERS)

    stopped_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    hub.stop_server("alice")
    stopped = time.time()

    done = run_job(hub, "job-token")
    assert done.returncode == 0, done.stderr
    result = job_output("job-token")
    assert result["whoami"] == ALICE
    assert canonical(result["rows"]) == canonical(
        governed_trial(raw_trial, "alice", hub.mask_key())
    )
    scans = [
        r
        for r in hub.audit()
        if r["time"] >= stopped_at and r["user_name"] == "alice" and r["action"] == "scan"
    ]
    assert {(r["event"], r["client"], r["outcome"]) for r in scans} == {
        ("access", "job", "allowed"),
        ("complete", "job", "completed"),
    }

    # Her stopped server's token is gone with the server; the token she replaced is revoked.
    # The service caches the hub's answers for cache_seconds: refused at most that much later.
    time.sleep(max(0.0, stopped + HUB_CACHE_SECONDS + 1 - time.time()))
    for token in (server_token, first_token):
        refused = whoami_with(hub, token)
        assert (
            refused.status_code == 401
            and "JupyterHub does not accept this token" in refused.json()["error"]["message"]
        )

    time.sleep(max(0.0, short_expiry + 1 - time.time()))
    for token_file, (reason, _) in REFUSALS.items():
        done = run_job(hub, token_file)
        assert done.returncode != 0 and reason in done.stderr, (token_file, done.stderr[-2000:])
    # Each refused run is audited, as alice's where the hub said the token was hers.
    refusals = [
        (r["reason"], r["user_name"])
        for r in hub.audit()
        if r["time"] >= stopped_at and r["outcome"] == "unauthenticated"
    ]
    for prefix, owner in REFUSALS.values():
        assert any(
            reason.startswith(prefix) and user_name == owner for reason, user_name in refusals
        ), (prefix, owner, refusals)

    # Revoked on the hub (as from its token page) after use: refused once the service's short
    # cache of the hub's answer (10 s) has passed.
    assert hub.operator("DELETE", f"/users/alice/tokens/{job['id']}").status_code == 204
    time.sleep(11)
    done = run_job(hub, "job-token")
    assert done.returncode != 0 and "JupyterHub does not accept this token" in done.stderr, (
        done.stderr[-2000:]
    )
