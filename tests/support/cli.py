"""The `condafarm` command run as a user runs it: the installed console script in its own process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `condafarm` console script as a user would."""
    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent)) or "condafarm"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env=env or dict(os.environ), timeout=timeout, check=False
    )
