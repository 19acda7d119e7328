"""Alice in Chromium: signs in through the hub on the identity provider's own page, lands in
the JupyterLab the hub starts for her, and sees her catalog and governed preview in the
Warden sidebar (ui-tests/hub/login.hub.ts, run by `bash ui-tests/run.sh --hub`)."""

from __future__ import annotations

import os
import subprocess

from deployment import REPO


def test_alice_signs_in_in_a_browser_and_sees_her_catalog_in_the_warden_sidebar(hub):
    environment = {
        **os.environ,
        "WARDEN_HUB_URL": hub.url,
        "WARDEN_HUB_USER": "alice",
        "WARDEN_HUB_PASSWORD": hub.logins["alice"],
    }
    done = subprocess.run(
        ["bash", "ui-tests/run.sh", "--hub"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout, done.stdout[-5000:]
