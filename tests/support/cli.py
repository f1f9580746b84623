"""The `condafarm` command run as a user runs it: the installed console script in its own process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `condafarm` console script as a user would."""
    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent)) or "condafarm"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env=env or dict(os.environ), timeout=timeout, check=False
    )


def publish_concurrently(files: Sequence[Path], channel_url: str, env: dict[str, str]) -> None:
    """`condafarm publish` of each file in its own process, all started at once; asserts that every one succeeded."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "condafarm", "publish", str(f), "--to", channel_url, "-q"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
