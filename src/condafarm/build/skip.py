"""A recipe's `build.skip` conditions, evaluated per rendered variant (py-rattler-build 0.73 renders skipped
variants as if they were wanted, so a Windows-only recipe built on Linux would make an empty package).

The conditions are rattler-build's boolean expressions over the target platform (`win`, `linux`, `osx`, `unix`,
`x86_64`, `aarch64`, `arm64`, `win64`, `linux64`...) and variant keys, combined with `not`, `and`, `or`,
comparisons, parentheses and `match(variable, "version spec")`.
They are parsed with `ast` and only those forms are evaluated; anything else is a located `BuildError`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from ..errors import BuildError

#: Architecture names, true when the platform's architecture part is that name (`osx-arm64`: arm64).
_ARCH_NAMES = ("aarch64", "arm64", "ppc64le", "s390x", "armv6l", "armv7l", "riscv64")
#: Names true on exactly one platform, as rattler-build defines them (`win64` is win-64, not win-arm64).
_ONE_PLATFORM = {
    "linux32": "linux-32",
    "linux64": "linux-64",
    "win32": "win-32",
    "win64": "win-64",
    "osx64": "osx-64",
}


def platform_names(target_platform: str) -> dict[str, Any]:
    """The platform names rattler-build defines in conditions and expressions, valued for `target_platform`
    (`linux-64`: linux, unix, x86_64 and linux64 are true). tests/test_build_skip.py checks every name against
    py-rattler-build's own render on each platform condafarm builds."""
    os_name, _, arch = target_platform.partition("-")
    names: dict[str, Any] = {name: False for name in ("win", "linux", "osx", "unix", "emscripten", "wasi")}
    names.update({"target_platform": target_platform, "build_platform": target_platform, os_name: True})
    names["unix"] = os_name in ("linux", "osx")
    names["x86"] = arch == "32"  # rattler-build's x86 is 32-bit only; conda-build's is any x86 (jinja.py)
    names["x86_64"] = arch == "64"
    names.update({name: arch == name for name in _ARCH_NAMES})
    names.update({name: target_platform == platform for name, platform in _ONE_PLATFORM.items()})
    return names


def _evaluate(node: ast.AST, names: Mapping[str, Any], condition: str) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, names, condition)
    if isinstance(node, ast.BoolOp):
        values = [bool(_evaluate(v, names, condition)) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _evaluate(node.operand, names, condition)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise BuildError(
                f"build.skip condition {condition!r} names {node.id!r}, which is neither a platform "
                "nor a variant key; fix the condition"
            )
        return names[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, bool)):
        return node.value
    if _is_match(node):
        return _match(node, names, condition)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = _evaluate(node.left, names, condition), _evaluate(node.comparators[0], names, condition)
        op = node.ops[0]
        if isinstance(op, ast.Eq):
            return str(left) == str(right)
        if isinstance(op, ast.NotEq):
            return str(left) != str(right)
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, str):
            return (str(left) in right) == isinstance(op, ast.In)
    raise BuildError(f"build.skip condition {condition!r} is not a condition condafarm can evaluate; simplify it")


def _is_match(node: ast.AST) -> bool:
    """`match(variable, "spec")`: rattler-build's version match, e.g. `match(python, "<3.8")`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "match"
        and len(node.args) == 2
        and isinstance(node.args[0], ast.Name)
        and isinstance(node.args[1], ast.Constant)
        and not node.keywords
    )


def _match(node: ast.AST, names: Mapping[str, Any], condition: str) -> bool:
    """Whether the variant's value matches the version spec; a variable the variant lacks matches nothing."""
    import rattler

    assert isinstance(node, ast.Call) and isinstance(node.args[0], ast.Name) and isinstance(node.args[1], ast.Constant)
    value = names.get(node.args[0].id)
    if value is None or isinstance(value, bool):
        return False
    try:
        return bool(rattler.VersionSpec(str(node.args[1].value)).matches(rattler.Version(str(value))))
    except Exception as exc:  # py-rattler raises its own parse error types
        raise BuildError(f"build.skip condition {condition!r}: {exc}; fix the condition") from exc


def is_skipped(conditions: list[Any], target_platform: str, variant: Mapping[str, Any]) -> str | None:
    """The first of `conditions` that is true for this platform and variant (the variant is skipped), or None."""
    names = {"true": True, "false": False, **platform_names(target_platform), **{str(k): v for k, v in variant.items()}}
    for condition in conditions:
        if isinstance(condition, bool):
            if condition:
                return str(condition)
            continue
        text = str(condition).strip().removeprefix("${{").removesuffix("}}").strip()
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise BuildError(
                f"build.skip condition {condition!r} does not parse ({exc.msg}); fix the condition"
            ) from exc
        if _evaluate(tree, names, str(condition)):
            return str(condition)
    return None
