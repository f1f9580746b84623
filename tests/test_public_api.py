"""The public API: one list of names (`condafarm._EXPORTS`), the same for type checkers, and the worker plugin
using nothing else (tests/test_startup.py imports each name)."""

from __future__ import annotations

import ast
from pathlib import Path

from support import ROOT

import condafarm


def _type_checking_names() -> set[str]:
    tree = ast.parse(Path(condafarm.__file__).read_text(encoding="utf-8"))
    guarded = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    return {
        a.asname or a.name for block in guarded for s in block.body if isinstance(s, ast.ImportFrom) for a in s.names
    }


def test_the_names_type_checkers_see_are_exactly_the_exported_ones() -> None:
    assert _type_checking_names() == set(condafarm.__all__)


def test_the_worker_plugin_imports_only_the_public_api() -> None:
    used: list[str] = []
    for file in (ROOT / "worker_plugin" / "condafarm_worker").glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("condafarm") and node.level == 0:
                assert node.module == "condafarm", f"{file.name} imports {node.module}: use condafarm.__all__"
                used += [a.name for a in node.names]
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("condafarm.") for a in node.names), file.name
    assert used and set(used) <= {*condafarm.__all__, "__version__"}
