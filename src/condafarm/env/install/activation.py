"""The variables activating an environment sets: PATH, CONDA_PREFIX, `env_vars.d` values and whatever the
packages' `activate.d` scripts export, for Linux, macOS (sh scripts) and Windows (cmd scripts, and the sh
scripts of packages that ship no cmd script, run in Git for Windows' bash as the Deadline Cloud samples did).

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

from ...errors import CondafarmError

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


def script_runs(prefix: Path, windows: bool) -> list[tuple[str, list[Path]]]:
    """Which `activate.d` scripts run, in which shell (`sh` or `cmd`), in order. Linux and macOS: the `.sh`
    scripts. Windows: the `.bat` scripts in cmd.exe, then the `.sh` scripts that have no `.bat` of the same name
    in bash: packages built for the samples' bash activation often ship only those, and the samples ran them."""
    sh = activate_scripts(prefix, ".sh")
    if not windows:
        return [("sh", sh)] if sh else []
    bat = activate_scripts(prefix, ".bat")
    sh_only = [p for p in sh if p.stem not in {b.stem for b in bat}]
    return [run for run in (("cmd", bat), ("sh", sh_only)) if run[1]]


def windows_bash(env: Mapping[str, str]) -> str | None:
    """Git for Windows' bash, which the samples required on Windows hosts: the one beside `git` on PATH, else a
    `bash.exe` on PATH outside System32 and WindowsApps (those are WSL's, which would run the script in a Linux
    VM), else the default install folder."""
    lookup = {k.upper(): v for k, v in env.items()}
    path = lookup.get("PATH", "")
    candidates = []
    git = shutil.which("git", path=path)
    if git:
        root = Path(git).parent.parent  # Git\cmd\git.exe, Git\bin\git.exe or Git\mingw64\bin\git.exe
        candidates.append((root.parent if root.name.lower() == "mingw64" else root) / "bin" / "bash.exe")
    wsl = ("system32", "windowsapps")  # WSL's launcher, and its app alias under %LOCALAPPDATA%
    candidates += [Path(d) / "bash.exe" for d in path.split(os.pathsep) if d and not any(w in d.lower() for w in wsl)]
    candidates.append(Path(lookup.get("PROGRAMFILES") or "C:/Program Files") / "Git" / "bin" / "bash.exe")
    return next((str(c) for c in candidates if c.is_file()), None)


def sh_script(python: str, scripts: Sequence[Path], folder: Path) -> str:
    """The sh script that snapshots the environment, sources `scripts`, and snapshots it again. Paths are
    written with forward slashes, which Git for Windows' bash also reads (a no-op elsewhere)."""

    def quoted(path: str | Path) -> str:
        return shlex.quote(Path(path).as_posix())

    dump = f"{quoted(python)} {quoted(folder / 'dump.py')}"
    lines = [f"{dump} {quoted(folder / 'before.json')}"]
    lines += [f". {quoted(script)}" for script in scripts]
    lines.append(f"{dump} {quoted(folder / 'after.json')}")
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


def _shell_command(
    prefix: Path, shell: str, scripts: list[Path], env: Mapping[str, str], windows: bool, folder: Path
) -> tuple[list[str], Path | None]:
    """The command that runs the script in `folder` for `shell`, and its working folder. On Windows it runs in
    `folder` and names only the file, so no path reaches a command line cmd.exe or bash could misread."""
    if shell == "cmd":
        return [env.get("COMSPEC", "cmd.exe"), "/d", "/v:off", "/c", "activate.bat"], folder
    if not windows:
        return [shutil.which("bash") or "/bin/sh", str(folder / "activate.sh")], None
    bash = windows_bash(env)
    if bash is None:
        names = ", ".join(p.name for p in scripts)
        raise CondafarmError(
            f"activating {prefix} needs bash: its activate.d script(s) {names} have no .bat version; install Git "
            "for Windows on this host (as the Deadline Cloud samples require), or add .bat scripts to the packages"
        )
    return [bash, "activate.sh"], folder


def _run_scripts(
    prefix: Path, shell: str, scripts: list[Path], env: dict[str, str], windows: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """The environment before and after `scripts` ran in `shell`."""
    with tempfile.TemporaryDirectory(prefix="condafarm-activate-") as tmp:
        folder = Path(tmp)
        command, cwd = _shell_command(prefix, shell, scripts, env, windows, folder)
        (folder / "dump.py").write_text(_DUMP, encoding="utf-8")
        if shell == "cmd":
            (folder / "activate.bat").write_text(cmd_script(sys.executable, scripts), encoding="utf-8")
        else:
            (folder / "activate.sh").write_text(sh_script(sys.executable, scripts, folder), encoding="utf-8")
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
    shell_env = _with(env, fixed, windows)
    for shell, scripts in script_runs(prefix, windows):
        old, new = _run_scripts(prefix, shell, scripts, shell_env, windows)
        changed = {k: v for k, v in new.items() if k not in _SHELL_NOISE and old.get(k) != v}
        removed = [k for k in old if k not in _SHELL_NOISE and k not in new]
        changes.update(changed)
        changes.update(dict.fromkeys(removed))
        shell_env = {k: v for k, v in _with(shell_env, changed, windows).items() if k not in removed}
    for name, value in changes.items():
        if name.upper() == "PATH" and value is not None:
            changes[name] = _dedupe_path(value)
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
