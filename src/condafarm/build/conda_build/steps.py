"""How a conda-build recipe runs (build.skip, the build script and its environment, tests) as rattler-build runs it.

conda-build finds some of this in the recipe folder rather than in meta.yaml: `build.sh` and `bld.bat` (by
platform), `run_test.sh`, `run_test.bat` and `run_test.py`. rattler-build looks for `build.sh`/`build.bat` only,
so the converted recipe names the files conda-build would have run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

from .jinja import Refused
from .tree import Alt, Entry, Scalar, Seq, both, resolve

Note = Callable[[int, str], None]
TEST_KEYS = ("commands", "imports", "requires", "source_files", "files", "script")
_WHOLE_EXPRESSION = re.compile(r"^\$\{\{ (.*) \}\}$")
# `maya ==2025.*`, also when the version is an expression: `maya ==${{ version }}.*`
_EQUALS_GLOB = re.compile(r"(\s)==\s*((?:\$\{\{.*?\}\}|\S)*\*)")


def specs(value: Any) -> Any:
    """Requirements with conda-build's lenient `name ==1.2.*` as the `name 1.2.*` rattler-build accepts."""
    if isinstance(value, list):
        return [specs(v) for v in value]
    if isinstance(value, dict):
        return {k: specs(v) if k in ("then", "else") else v for k, v in value.items()}
    return _EQUALS_GLOB.sub(r"\1\2", value) if isinstance(value, str) else value


def as_list(value: Any) -> list[Any]:
    """A value as a list, without the empty entries a key with only comments under it leaves."""
    return [v for v in (value if isinstance(value, list) else [value]) if v is not None]


def skip(entry: Entry) -> list[str]:
    """build.skip as rattler-build's list of conditions (any true skips): `skip: true  # [win]` is `win`."""
    conditions: list[str] = []
    for cond, node in entry.alts:
        value = node.value if isinstance(node, Scalar) else None
        if value is True or str(value).lower() == "true":
            conditions.append(cond or "true")
        elif not (value is False or value is None or str(value).lower() == "false"):
            whole = _WHOLE_EXPRESSION.match(str(value))
            if whole is None:
                raise Refused(entry.line, "build.skip must be true, false or a Jinja expression")
            conditions.append(str(both(cond, f"({whole.group(1)})")))
    return conditions


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _values(node: Any) -> list[tuple[str | None, Scalar]]:
    if isinstance(node, Scalar):
        return [(None, node)]
    if not isinstance(node, Seq) or any(not isinstance(i.node, Scalar) for i in node.items):
        raise Refused(node.line, "build.script_env must be a list of NAME or NAME=value")
    return [(i.cond, i.node) for i in node.items if isinstance(i.node, Scalar)]


def script(script: Entry | None, script_env: Entry | None, files: Collection[str], note: Note) -> Any:
    """build.script (or the recipe folder's build.sh / bld.bat) with build.script_env as rattler-build's script."""
    content = as_list(resolve(script.alts, listy=True)) if script else None
    sh, bat = "build.sh" in files, "bld.bat" in files
    if content is None and bat:
        # conda-build runs bld.bat on Windows and build.sh elsewhere; rattler-build would look for build.bat
        content = [{"if": "win", "then": "bld.bat", **({"else": "build.sh"} if sh else {})}]
    if script_env is None:
        return content
    # NAME=value sets a variable; a bare NAME passes the builder's own value through, as conda-build does
    values: dict[str, list[Alt]] = {}
    for cond, node in script_env.alts:
        for item_cond, item in _values(node):
            name, equals, value = str(item.value).partition("=")
            if not _VARIABLE.fullmatch(name.strip()):  # it goes into Jinja text: a plain variable name only
                raise Refused(item.line, f"build.script_env names {name.strip()!r}, which is not a variable name")
            passed = "${{ env.get('" + name.strip() + "', default='') }}"
            values.setdefault(name.strip(), []).append(
                (both(cond, item_cond), Scalar(value.strip() if equals else passed, item.line))
            )
    env = {name: resolve(alts) for name, alts in values.items()}
    if script:
        return {"env": env, "content": content}
    if sh or bat:
        file = "${{ 'bld.bat' if win else 'build.sh' }}" if sh and bat else "build.sh" if sh else "bld.bat"
        return {"env": env, "file": file}
    note(script_env.line, "build.script_env dropped: the recipe has no build script")
    return None


def _test_script(script: Any, files: Collection[str], extra: dict[str, Any]) -> Any:
    """conda-build's `test: script:` (a test script file in the recipe folder, run as run_test.* would be, or
    lines of script) as a rattler-build test."""
    if not isinstance(script, str) or script not in files:
        return {"script": script, **extra}
    if script.endswith(".py"):
        run = ["python", *extra.get("requirements", {}).get("run", [])]
        return {"script": {"interpreter": "python", "file": script}, **extra, "requirements": {"run": run}}
    platform = "win" if script.endswith(".bat") else "unix" if script.endswith(".sh") else None
    test = {"script": script, **extra}  # as run_test.sh and run_test.bat are written
    return {"if": platform, "then": test} if platform else test


def tests(keys: dict[str, Entry], line: int, files: Collection[str], note: Note) -> list[Any]:
    """conda-build's test section (at `line`) and run_test.* files as rattler-build's tests list."""
    for key, entry in keys.items():
        if key not in TEST_KEYS:
            raise Refused(entry.line, f"test.{key} cannot be converted")
    value = {k: as_list(resolve(e.alts, listy=True)) for k, e in keys.items()}
    result: list[Any] = []
    if value.get("imports"):
        # conda-build imports the modules only; rattler-build's python test would also run `pip check`
        result.append({"python": {"imports": value["imports"], "pip_check": False}})
    extra: dict[str, Any] = {}
    if value.get("requires"):
        extra["requirements"] = {"run": specs(value["requires"])}
    copied = {k: value[m] for k, m in (("source", "source_files"), ("recipe", "files")) if value.get(m)}
    if copied:
        extra["files"] = copied
    if value.get("commands"):
        result.append({"script": value["commands"], **extra})
    for script in value.get("script", []):
        result.append(_test_script(script, files, extra))
    if "run_test.sh" in files:
        result.append({"if": "unix", "then": {"script": "run_test.sh", **extra}})
    if "run_test.bat" in files:
        result.append({"if": "win", "then": {"script": "run_test.bat", **extra}})
    if "run_test.py" in files:
        run = ["python", *extra.get("requirements", {}).get("run", [])]
        result.append(
            {"script": {"interpreter": "python", "file": "run_test.py"}, **extra, "requirements": {"run": run}}
        )
    scripts = (
        value.get("commands")
        or value.get("script")
        or any(f in files for f in ("run_test.sh", "run_test.bat", "run_test.py"))
    )
    if extra and not scripts:
        note(line, "test.requires/files/source_files dropped: they serve test commands, and there are none")
    if "run_test.pl" in files:
        raise Refused(line, "run_test.pl (a Perl test) cannot be converted; write its checks as test commands")
    return result
