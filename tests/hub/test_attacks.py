"""From inside alice's kernel, as OS user alice, everything a curious analyst can try
(attack_payload.py): read every process's environment and command line, the lake, the
masking key, every key and token file; reuse every token found; mint tokens with every key
found, claiming pat's identity and groups; call the service, the hub and every loopback port
directly. Judged on what came back: never a secret she must not hold, never a raw value,
never a view other than her own."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

from deployment import STATE, TRIAL
from expected import canonical, governed_trial

PERSONAS = ("alice", "pat", "carlos", "cora")


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(entry.split("=", 1) for entry in raw.split("\0") if "=" in entry)


def processes() -> list[tuple[int, str, str]]:
    """(pid, owner, command line) of every process."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            owner = pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name
            cmdline = (
                Path(f"/proc/{pid}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
        except (OSError, KeyError):
            continue
        found.append((int(pid), owner, cmdline))
    return found


def secrets_alice_must_not_hold(hub) -> dict[str, str]:
    """Every secret of the deployment that is not alice's own, read as root."""
    secrets = {
        "masking key": hub.mask_key(),
        "operator token": hub.operator_token,
        "hub cookie secret": (STATE / "hub" / "jupyterhub_cookie_secret").read_text().strip(),
    }
    idp_client = json.loads((STATE / "idp" / "client.json").read_text())
    secrets["OAuth client secret"] = idp_client["client_secret"]
    for index, key in enumerate(idp_client["cookie_keys"]):
        secrets[f"IdP cookie key {index}"] = key
    for key in json.loads((STATE / "idp" / "jwks.json").read_text())["keys"]:
        secrets["IdP signing key"] = key["d"]
    for name, password in hub.logins.items():
        secrets[f"password of {name}"] = password
    for pid, owner, cmdline in processes():
        if "jupyterhub-singleuser" in cmdline and owner != "alice":
            secrets[f"server token of {owner}"] = environ_of(pid)["JUPYTERHUB_API_TOKEN"]
        elif owner == "warden" and "warden-service" in cmdline:
            secrets["Warden's own hub token"] = environ_of(pid)["JUPYTERHUB_API_TOKEN"]
        elif "configurable-http-proxy" in cmdline and str(STATE) not in cmdline and owner == "root":
            secrets["proxy API token"] = environ_of(pid)["CONFIGPROXY_AUTH_TOKEN"]
    assert {
        "Warden's own hub token",
        "proxy API token",
        "server token of carlos",
        "server token of pat",
    } <= set(secrets), sorted(secrets)
    return secrets


def test_nothing_from_inside_alices_kernel_reaches_beyond_her_view(
    hub, alice, carlos, pat, raw_trial
):
    secrets = secrets_alice_must_not_hold(
        hub
    )  # pat's and carlos's servers run: their tokens are targets
    pat_tokens_before = len(hub.operator("GET", "/users/pat/tokens").json()["api_tokens"])
    config = {
        "trial": TRIAL,
        "lake": str(STATE / "warden" / "lake"),
        "lake_files": [
            str(path) for path in (STATE / "warden" / "lake").rglob("*") if path.is_file()
        ],
        "globs": [
            "/home/*/.warden/*",
            "/home/*/.local/share/jupyter/runtime/*",
            "/etc/jupyterhub*/**",
            "/etc/warden*/**",
            "/var/lib/jupyterhub*/**",
        ],
        "roots": [
            "/srv",
            "/home",
            "/run",
            "/dev/shm",
            "/root",
            "/opt/warden-hub/etc",
            "/var/tmp",
            "/tmp",
        ],
        "max_candidates": 600,
        "port_paths": [
            "/api/v1/whoami",
            "/hub/api/user",
            "/hub/api/users",
            "/api/routes",
            "/user/carlos/api/contents",
            "/user/pat/api/contents",
            "/api/kernels",
            "/me",
        ],
    }
    payload = (Path(__file__).parent / "attack_payload.py").read_text()
    # The report is megabytes: a file (alice's, read here as root), not the kernel's output.
    report_file = Path(pwd.getpwnam("alice").pw_dir) / "attack-report.json"
    config["report_file"] = str(report_file)
    kernel = alice.kernel("attack.ipynb")
    try:
        kernel.run(f"CONFIG = {json.dumps(config)}\n{payload}", timeout=900)
        report_text = report_file.read_text()
    finally:
        kernel.close()
        report_file.unlink(missing_ok=True)
    report = json.loads(report_text)
    alice_uid = pwd.getpwnam("alice").pw_uid

    # The attack ran as alice and really tried.
    assert report["uid"] == alice_uid
    assert (
        report["cmdline_read"] > 20
        and len(report["environ_read"]) >= 2
        and len(report["candidates"]) >= 3
    )
    assert sum(report["warden_refusals"].values()) > len(report["candidates"])
    assert any(call["kind"] == "own" for call in report["warden"])

    # Only alice's own processes' environments were readable; no file of the deployment's state
    # or of another user; not a byte of the lake.
    assert {uid for _, uid in report["environ_read"]} == {alice_uid}
    other_homes = [pwd.getpwnam(name).pw_dir for name in PERSONAS if name != "alice"]
    leaked_files = [
        path
        for path, _ in report["files_read"]
        if path.startswith(str(STATE) + "/")
        or path.startswith(tuple(home + "/" for home in other_homes))
    ]
    assert leaked_files == []
    assert report["lake_reads"] == [] and len(config["lake_files"]) >= 4
    assert any(path == str(STATE / "warden") for path, _ in report["files_refused"])

    # No secret that is not alice's own was found anywhere she looked, or came back from any call.
    leaked_secrets = sorted(name for name, value in secrets.items() if value in report_text)
    assert leaked_secrets == []

    # Every answer of the service was alice's, with her groups, and her governed view only:
    # no raw SSN, name or email of any participant anywhere in what she got.
    whoamis = [call["whoami"] for call in report["warden"] if "whoami" in call]
    assert whoamis and all(
        who["user"] == "alice" and who["groups"] == ["analysts"] for who in whoamis
    )
    allowed = set(canonical(governed_trial(raw_trial, "alice", hub.mask_key())))
    scans = [call["rows"] for call in report["warden"] if "rows" in call]
    assert scans and all(set(canonical(rows)) <= allowed for rows in scans)
    raw_values = {
        value
        for column in ("ssn", "name", "email")
        for value in raw_trial.column(column).to_pylist()
    }
    assert sorted(value for value in raw_values if value in report_text) == []

    # Tokens minted with every key and secret found, claiming pat and privacy-officers: refused.
    assert not any(call["kind"].startswith("forged") for call in report["warden"])
    # The hub did not make alice more than alice.
    changes = [call for call in report["hub"] if not call["call"].startswith("GET ")]
    assert (
        changes
        and [call for call in changes if call["status"] is None or call["status"] < 400] == []
    )
    for call in report["hub"]:
        if call["status"] in (200, 201):
            assert all(f'"{name}"' not in call["body"] for name in PERSONAS if name != "alice"), (
                call
            )
    alice_model = hub.operator("GET", "/users/alice").json()
    assert (alice_model["groups"], alice_model["admin"]) == (["analysts"], False)
    assert len(hub.operator("GET", "/users/pat/tokens").json()["api_tokens"]) == pat_tokens_before
    # Loopback services answered her only about herself.
    for answer in report["ports"]:
        assert all(f'"{name}"' not in answer["body"] for name in PERSONAS if name != "alice"), (
            answer
        )
