"""Wheel build hook.

The JavaScript is built by npm beforehand (see package.json). A regular wheel gets the
built Lab extension as shared data, and is refused if the npm build did not run (it
would install a Lab extension with no front end, or a server extension with no service).
A wheel carrying DuckDB's native binding is tagged for this platform, not py3-none-any.
Editable installs take none of this: the Lab extension is linked with
`jupyter labextension develop --overwrite .`, so rebuilds show up without reinstalling.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LABEXTENSION_DEST = "share/jupyter/labextensions/jupyterlab-warden"
REQUIRED_ARTIFACTS = {
    "warden/labextension/package.json": "npm run build:labextension",
    "warden/service/warden-service.cjs": "npm run build:service",
}


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or version != "standard":
            return
        root = Path(self.root)
        missing = [
            f"{path} (run `{command}`)"
            for path, command in REQUIRED_ARTIFACTS.items()
            if not (root / path).is_file()
        ]
        if missing:
            raise RuntimeError(
                "Build the JavaScript before the wheel; missing: " + ", ".join(missing)
            )
        build_data["shared_data"]["warden/labextension"] = LABEXTENSION_DEST
        build_data["shared_data"]["install.json"] = f"{LABEXTENSION_DEST}/install.json"
        if any((root / "warden" / "service").rglob("*.node")):
            platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
            build_data["pure_python"] = False
            build_data["tag"] = f"py3-none-{platform}"
