"""The variables activating an environment sets: PATH, CONDA_PREFIX, `env_vars.d` values and whatever the
packages' `activate.d` scripts export, for Linux, macOS (sh scripts) and Windows (cmd scripts).

The fixed part (PATH as py-rattler orders it, CONDA_PREFIX, CONDA_SHLVL, `env_vars.d` and `conda-meta/state`
values) is computed here and handed to the shell through its environment, never as script text: py-rattler's
own activation scripts paste the prefix between double quotes unescaped, so a path holding `$(...)` ran it.
The `activate.d` scripts then run once in the host's shell between two snapshots of the environment, and the
difference is what they changed, exactly as a user's shell would see it. The only text written into that
script is paths, quoted for its shell (`shlex.quote` for sh, `cmd_quote` for cmd.exe).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from ..errors import CondafarmError

log = logging.getLogger(__name__)

#: Variables a shell changes by itself between two commands; never part of an activation.
_SHELL_NOISE = frozenset({"_", "SHLVL", "PWD", "OLDPWD", "PROMPT"})

#: What OpenJD (and every shell) accepts as a variable name.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_DUMP = "import json, os, sys\njson.dump(dict(os.environ), open(sys.argv[1], 'w', encoding='utf-8'))\n"


def _dedupe_path(value: str) -> str:
    seen: dict[str, None] = {}
    for part in value.split(os.pathsep):
        if part:
            seen.setdefault(part, None)
    return os.pathsep.join(seen)


def cmd_quote(text: str, *, call: bool = False) -> str:
    """`text` as one double-quoted cmd.exe word in a batch file. Inside double quotes only `%` is special
    (doubled; a CALL line expands it twice, so quadrupled there), with delayed expansion off (`/v:off`).
    Windows paths cannot hold `"` or line breaks; CALL doubles every quoted `^`: such text is refused."""
    refused = '"\r\n^' if call else '"\r\n'
    if any(c in text for c in refused):
        raise CondafarmError(f"cannot run {text!r} from a cmd.exe script: it holds one of {refused!r}")
    return '"' + text.replace("%", "%%%%" if call else "%%") + '"'


def package_variables(prefix: Path) -> dict[str, str]:
    """The variables packages set without a script: `etc/conda/env_vars.d/*.json` in name order, then
    `conda-meta/state` (`conda env config vars`), as conda and py-rattler read them."""
    found: dict[str, str] = {}
    folder = prefix / "etc" / "conda" / "env_vars.d"
    sources = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    state = prefix / "conda-meta" / "state"
    for source in [*sources, *([state] if state.is_file() else [])]:
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
            values = data.get("env_vars", {}) if source == state else data
            pairs = [(str(k).upper() if source == state else str(k), v) for k, v in values.items()]
        except (OSError, ValueError, AttributeError) as exc:
            raise CondafarmError(f"{source} is not a JSON object of variables ({exc}); its package is broken") from exc
        for name, value in pairs:
            if not _NAME.fullmatch(name):
                raise CondafarmError(f"{source} sets {name!r}, which is not a variable name; its package is broken")
            if isinstance(value, str):
                found[name] = value
    return found


def activate_scripts(prefix: Path, suffix: str) -> list[Path]:
    """The packages' `etc/conda/activate.d` scripts for one shell (`.sh` or `.bat`), in name order."""
    folder = prefix / "etc" / "conda" / "activate.d"
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == suffix) if folder.is_dir() else []


def sh_script(python: str, scripts: Sequence[Path], folder: Path) -> str:
    """The sh script that snapshots the environment, sources `scripts`, and snapshots it again."""
    dump = f"{shlex.quote(python)} {shlex.quote(str(folder / 'dump.py'))}"
    lines = [f"{dump} {shlex.quote(str(folder / 'before.json'))}"]
    lines += [f". {shlex.quote(str(script))}" for script in scripts]
    lines.append(f"{dump} {shlex.quote(str(folder / 'after.json'))}")
    return "\n".join(lines) + "\n"


def cmd_script(python: str, scripts: Sequence[Path]) -> str:
    """The same for cmd.exe. It runs from its own folder and finds its files there through `%~dp0`, so no
    temporary path is written into it."""
    dump = f'@{cmd_quote(python)} "%~dp0dump.py"'
    lines = ["@chcp 65001 > nul", f'{dump} "%~dp0before.json"']
    lines += [f"@CALL {cmd_quote(str(script), call=True)}" for script in scripts]
    lines.append(f'{dump} "%~dp0after.json"')
    return "\r\n".join(lines) + "\r\n"


def _with(env: Mapping[str, str], values: Mapping[str, str], windows: bool) -> dict[str, str]:
    """`env` updated with `values`; Windows names ignore case, so `Path` is replaced by `PATH`, not doubled."""
    replaced = {name.upper() if windows else name for name in values}
    return {**{k: v for k, v in env.items() if (k.upper() if windows else k) not in replaced}, **values}


def _run_scripts(
    prefix: Path, scripts: list[Path], env: dict[str, str], windows: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """The environment before and after `prefix`'s `activate.d` scripts ran in the host's shell."""
    with tempfile.TemporaryDirectory(prefix="condafarm-activate-") as tmp:
        folder = Path(tmp)
        (folder / "dump.py").write_text(_DUMP, encoding="utf-8")
        if windows:
            (folder / "activate.bat").write_text(cmd_script(sys.executable, scripts), encoding="utf-8")
            command = [env.get("COMSPEC", "cmd.exe"), "/d", "/v:off", "/c", "activate.bat"]
            cwd: Path | None = folder  # so the command line names no path cmd.exe could misparse
        else:
            (folder / "activate.sh").write_text(sh_script(sys.executable, scripts, folder), encoding="utf-8")
            command, cwd = [shutil.which("bash") or "/bin/sh", str(folder / "activate.sh")], None
        result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        after = folder / "after.json"
        if result.returncode != 0 or not after.exists():
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise CondafarmError(
                f"activating {prefix} failed (exit {result.returncode}: {detail[0]}); a package's activate.d "
                "script is broken, or the environment is incomplete"
            )
        before = json.loads((folder / "before.json").read_text(encoding="utf-8"))
        return before, json.loads(after.read_text(encoding="utf-8"))


def activation_changes(prefix: Path, environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """What activating `prefix` does to `environ` (default: this process's): NAME -> new value, or None for
    a variable it removes."""
    from rattler.shell import ActivationVariables, Shell, activate

    env = dict(os.environ if environ is None else environ)
    windows = sys.platform == "win32"
    current = next((v for k, v in env.items() if k.upper() == "PATH"), "") if windows else env.get("PATH", "")
    path = [p for p in current.split(os.pathsep) if p] or [os.defpath]
    variables = package_variables(prefix)
    # py-rattler annotates `path` as one Path; it is the list of PATH entries, the environment's first.
    entries = cast(
        "list[Path]", activate(prefix, ActivationVariables(None, path), Shell.cmd_exe if windows else Shell.bash).path
    )
    fixed = {
        "PATH": os.pathsep.join(str(entry) for entry in entries),
        "CONDA_PREFIX": str(prefix),
        "CONDA_SHLVL": "1",
        **variables,
    }
    changes: dict[str, str | None] = {k: v for k, v in fixed.items() if env.get(k) != v}
    scripts = activate_scripts(prefix, ".bat" if windows else ".sh")
    if scripts:
        old, new = _run_scripts(prefix, scripts, _with(env, fixed, windows), windows)
        for name, value in new.items():
            if name not in _SHELL_NOISE and old.get(name) != value:
                changes[name] = value
        for name in old:
            if name not in _SHELL_NOISE and name not in new:
                changes[name] = None
    for name, changed in changes.items():
        if name.upper() == "PATH" and changed is not None:
            changes[name] = _dedupe_path(changed)
    return changes


def _plain(value: str) -> bool:
    """Whether OpenJD reads `NAME=value` back unchanged whatever the log's encoding: printable ASCII with no
    leading or trailing blanks and no leading quote (a leading quote announces the JSON form)."""
    return value.isascii() and value.isprintable() and value == value.strip() and not value.startswith('"')


def openjd_lines(changes: Mapping[str, str | None]) -> list[str]:
    """The activation as OpenJD stdout messages (`openjd_env: NAME=VALUE`, `openjd_unset_env: NAME`); any
    other value (non-ASCII, line breaks, control characters, edge blanks) is JSON-quoted as OpenJD allows.
    Names OpenJD refuses (it would fail the action) are left out with a warning."""
    lines = []
    for name in sorted(changes):
        value = changes[name]
        if not _NAME.fullmatch(name):
            log.warning("not passing %r to OpenJD: not a variable name it accepts", name)
        elif value is None:
            lines.append(f"openjd_unset_env: {name}")
        elif _plain(value):
            lines.append(f"openjd_env: {name}={value}")
        else:
            lines.append(f"openjd_env: {json.dumps(f'{name}={value}')}")
    return lines
