"""Each persona, through their own hub server, gets exactly their governed view: in a notebook
kernel (`warden.connect()` with nothing passed) and through the browser path (the server
extension forwarding the user's own hub token). Groups come from the IdP through the hub."""

from __future__ import annotations

import pwd
from pathlib import Path

import requests

from warden._contract import MASK_INDICATOR_PREFIX

from deployment import TRIAL, arrow_table
from expected import canonical, governed_trial

NOTEBOOK_CELLS = [
    "import json, os, warden\nclient = warden.connect()",
    "table = client.scan_as_arrow('drug_xyz.trial_july2020', progress=False)\n"
    "umask = os.umask(0o077); os.umask(umask)\n"
    "print(json.dumps({'whoami': client.whoami(), 'rows': table.to_pylist(), 'umask': umask,\n"
    "  'env': sorted(name for name in os.environ\n"
    "    if name.startswith(('WARDEN', 'JUPYTERHUB_API')))}, default=str))",
]


def test_each_user_gets_exactly_their_governed_view_in_a_notebook_of_their_server(
    hub, alice, carlos, raw_trial
):
    key = hub.mask_key()
    for user, group, attributes in (
        (alice, "analysts", {"region": "US", "clearance": "standard"}),
        (carlos, "contractors", {"company": "Acme CRO"}),
    ):
        notebook = f"governed-{user.name}.ipynb"
        user.put_notebook(notebook, NOTEBOOK_CELLS)
        kernel = user.kernel(notebook)
        try:
            kernel.run(NOTEBOOK_CELLS[0])
            result = kernel.run_json(NOTEBOOK_CELLS[1])
        finally:
            kernel.close()
        assert result["whoami"] == {"user": user.name, "groups": [group], "attributes": attributes}
        # The kernel holds its hub token and the service URL; no Warden token or secret.
        assert result["env"] == ["JUPYTERHUB_API_TOKEN", "JUPYTERHUB_API_URL", "WARDEN_URL"]
        # The user's files are private: a private home, and the server and kernels create
        # files for their owner only.
        home = Path(pwd.getpwnam(user.name).pw_dir)
        assert result["umask"] == 0o077 and home.stat().st_mode & 0o077 == 0
        assert (home / notebook).stat().st_uid == pwd.getpwnam(user.name).pw_uid and (
            home / notebook
        ).stat().st_mode & 0o077 == 0
        expected = governed_trial(raw_trial, user.name, key)
        assert len(expected) > 100
        assert canonical(result["rows"]) == canonical(expected)
        scans = [
            r
            for r in hub.audit()
            if r["user_name"] == user.name and r["action"] == "scan" and r["event"] == "access"
        ]
        assert (
            scans[-1]["client"] == "python-client"
            and scans[-1]["notebook"] == notebook
            and scans[-1]["groups"] == group
        )


def test_browser_path_through_the_users_own_server(hub, alice, carlos, raw_trial):
    key = hub.mask_key()
    for user, group in ((alice, "analysts"), (carlos, "contractors")):
        whoami = user.server_get("/warden/api/v1/whoami")
        assert whoami.status_code == 200, whoami.text
        assert whoami.json()["user"] == user.name and whoami.json()["groups"] == [group]
        preview = arrow_table(
            user.server_get(
                f"/warden/api/v1/datasets/{TRIAL}/preview?limit=10000",
                headers={"X-Warden-Client": "preview"},
            )
        )
        # The preview also marks masked cells (indicator columns): the data is the rest.
        indicators = [
            name for name in preview.column_names if name.startswith(MASK_INDICATOR_PREFIX)
        ]
        assert canonical(preview.drop_columns(indicators).to_pylist()) == canonical(
            governed_trial(raw_trial, user.name, key)
        )
    catalog = {
        user.name: {
            d["name"] for d in user.server_get("/warden/api/v1/datasets").json()["datasets"]
        }
        for user in (alice, carlos)
    }
    assert "commercial.production_batches" in catalog["alice"]
    assert "commercial.production_batches" not in catalog["carlos"] and TRIAL in catalog["carlos"]


def test_a_visitor_of_someone_elses_server_gets_nothing_through_warden(hub, alice):
    """The hub lets an admin into alice's server; Warden there acts for alice only."""
    admin = {"Authorization": f"token {hub.operator_token}"}
    response = requests.get(
        f"{alice.server_url}/warden/api/v1/datasets/{TRIAL}/preview", headers=admin, timeout=60
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"].startswith(
        "Warden acts only for the owner of this server (alice)"
    )
