"""py-rattler as the tests' conda client, run in its own process (`rattler_client.py`): install from a channel,
and the small application channel the install tests share."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.packages import make_package

CLIENT = Path(__file__).parent / "rattler_client.py"


def rattler(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `rattler_client.py ARGS...` in its own process; asserts that it succeeded."""
    result = subprocess.run(
        [sys.executable, str(CLIENT), *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def install(channel_url: str, prefix: Path, *specs: str, endpoint: str | None = None) -> list[dict[str, Any]]:
    """Solve `specs` from `channel_url` and install them into `prefix` with py-rattler; the installed records."""
    extra = ["--endpoint", endpoint] if endpoint else []
    out = rattler("install", channel_url, str(prefix), *specs, *extra).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


def app_channel(root: Path) -> None:
    """farmtool 1.0 and 1.1 (builds 0 and 1, a command each) needing farmlib >=2 (2.0 as .tar.bz2, and 1.0)."""
    make_package(root, "farmtool", "1.0", 0, script=True, depends=["farmlib >=2"])
    make_package(root, "farmtool", "1.1", 0, script=True, depends=["farmlib >=2"])
    make_package(root, "farmtool", "1.1", 1, script=True, depends=["farmlib >=2"])
    make_package(root, "farmlib", "2.0", 0, fmt=".tar.bz2")
    make_package(root, "farmlib", "1.0", 0)
    shutil.rmtree(root / ".staging")


def assert_installed(records: list[dict[str, Any]], prefix: Path) -> None:
    """The newest farmtool and the farmlib it needs were installed, and the command runs."""
    versions = {r["name"]: (r["version"], r["build_number"]) for r in records}
    assert versions == {"farmtool": ("1.1", 1), "farmlib": ("2.0", 0)}
    if os.name != "nt":
        out = subprocess.run([str(prefix / "bin" / "farmtool")], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "farmtool 1.1 build 1"
