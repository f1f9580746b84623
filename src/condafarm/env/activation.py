"""The variables activating an environment sets: PATH, CONDA_PREFIX, `env_vars.d` values and whatever the
packages' `activate.d` scripts export, for Linux, macOS (sh scripts) and Windows (cmd scripts).

py-rattler writes the activation script for the host's shell; it runs once in that shell between two
snapshots of the environment, and the difference is the activation, exactly as a user's shell would see it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..errors import CondafarmError

#: Variables a shell changes by itself between two commands; never part of an activation.
_SHELL_NOISE = frozenset({"_", "SHLVL", "PWD", "OLDPWD", "PROMPT"})

_DUMP = "import json, os, sys\njson.dump(dict(os.environ), open(sys.argv[1], 'w', encoding='utf-8'))\n"


def _dedupe_path(value: str) -> str:
    seen: dict[str, None] = {}
    for part in value.split(os.pathsep):
        if part:
            seen.setdefault(part, None)
    return os.pathsep.join(seen)


def activation_changes(prefix: Path, environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """What activating `prefix` does to `environ` (default: this process's): NAME -> new value, or None for
    a variable it removes."""
    from rattler.shell import ActivationVariables, Shell, activate

    env = dict(os.environ if environ is None else environ)
    windows = sys.platform == "win32"
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p] or [os.defpath]
    script = activate(prefix, ActivationVariables(None, path), Shell.cmd_exe if windows else Shell.bash).script
    with tempfile.TemporaryDirectory(prefix="condafarm-activate-") as tmp:
        folder = Path(tmp)
        dump = folder / "dump.py"
        dump.write_text(_DUMP, encoding="utf-8")
        before, after = folder / "before.json", folder / "after.json"
        if windows:
            run = f'@"{sys.executable}" "{dump}" "{before}"\r\n{script}\r\n@"{sys.executable}" "{dump}" "{after}"\r\n'
            (folder / "activate.bat").write_text(run, encoding="utf-8")
            command = [env.get("COMSPEC", "cmd.exe"), "/d", "/c", str(folder / "activate.bat")]
        else:
            dumper = f"{shlex.quote(sys.executable)} {shlex.quote(str(dump))}"
            run = f"{dumper} {shlex.quote(str(before))}\n{script}\n{dumper} {shlex.quote(str(after))}\n"
            (folder / "activate.sh").write_text(run, encoding="utf-8")
            command = [shutil.which("bash") or "/bin/sh", str(folder / "activate.sh")]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not after.exists():
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise CondafarmError(
                f"activating {prefix} failed (exit {result.returncode}: {detail[0]}); "
                "a package's activate.d script is broken, or the environment is incomplete"
            )
        old = json.loads(before.read_text(encoding="utf-8"))
        new = json.loads(after.read_text(encoding="utf-8"))
    changes: dict[str, str | None] = {}
    for name, value in new.items():
        if name not in _SHELL_NOISE and old.get(name) != value:
            changes[name] = _dedupe_path(value) if name.upper() == "PATH" else value
    for name in old:
        if name not in _SHELL_NOISE and name not in new:
            changes[name] = None
    return changes


def openjd_lines(changes: Mapping[str, str | None]) -> list[str]:
    """The activation as OpenJD stdout messages (`openjd_env: NAME=VALUE`, `openjd_unset_env: NAME`); values
    that could be misread (newlines, quotes) are JSON-quoted as OpenJD allows."""
    lines = []
    for name in sorted(changes):
        value = changes[name]
        if value is None:
            lines.append(f"openjd_unset_env: {name}")
        elif "\n" in value or "\r" in value or value.startswith('"') or name.startswith('"'):
            lines.append(f"openjd_env: {json.dumps(f'{name}={value}')}")
        else:
            lines.append(f"openjd_env: {name}={value}")
    return lines
