"""The floors README's "How it fits together" draws, held: imports run only downwards, rooms are entered through
their doors, and the CLI and the worker reach the library through its public API.

Read from the source with `ast` (no import runs), so a violation is named by file and line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "condafarm"

#: The floors from top to bottom, as README draws them; a unit may import only its own floor and those below.
#: A name is a top-level module or package of condafarm, or a room inside env/ or channel/.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("cli", "__main__"),
    ("__init__",),
    ("console", "demo"),
    ("farm",),
    ("mirror",),
    ("build",),
    ("env", "env.job"),
    ("env.outputs",),
    ("env.install",),
    ("env.resolve",),
    ("env.channels",),
    ("env.request",),
    ("channel.curate",),
    ("channel",),
    ("channel.read",),
    ("channel.commit",),
    ("conda",),
    ("safe_files",),
    ("storage", "storage.s3"),
    ("side_file", "user_cache"),
    ("numbers", "defaults", "redaction"),
    ("errors", "version"),
)
RANK = {unit: floor for floor, units in enumerate(FLOORS) for unit in units}
#: Packages whose rooms have a door (`__init__.py` re-exporting what the floors above use).
HOUSES = ("env", "channel")


@dataclass(frozen=True)
class Import:
    source: str  # dotted module below condafarm: "channel.commit.store", "__init__" for the package itself
    target: str  # the module imported, dotted the same way: `from .commit import intents` imports commit.intents
    via: str  # the module named after `from`: commit
    line: int

    def where(self) -> str:
        return f"{self.source.replace('.', '/')}.py:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    path = PACKAGE.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports() -> list[Import]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _module_name(path)
        package = source.split(".")[:-1]  # a module's package; for an __init__ the package itself
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "condafarm":
                base = (node.module or "").split(".")[1:]
            else:
                continue
            for alias in node.names:
                named = ".".join([*base, alias.name])
                target = named if _is_module(named) else ".".join(base) or "__init__"
                found.append(Import(source, target, ".".join(base) or "__init__", node.lineno))
    return found


def _unit(dotted: str) -> str:
    parts = dotted.split(".")
    if parts[0] in HOUSES and len(parts) > 1 and (PACKAGE / parts[0] / parts[1] / "__init__.py").is_file():
        return f"{parts[0]}.{parts[1]}"
    if parts[0] == "storage" and len(parts) > 1 and parts[1] == "s3":
        return "storage.s3"
    return parts[0]


def _room(dotted: str) -> str | None:
    """The room (a package inside a house, or storage/s3) a module sits in, None on a floor of its own."""
    unit = _unit(dotted)
    return unit if "." in unit else None


IMPORTS = _imports()


def test_every_unit_has_a_floor() -> None:
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert units - RANK.keys() == set(), "add the new unit to FLOORS (and README's tree)"


def test_imports_run_downwards() -> None:
    upward = [
        f"{imp.where()}: {_unit(imp.target)} is above {_unit(imp.source)}"
        for imp in IMPORTS
        if RANK[_unit(imp.target)] < RANK[_unit(imp.source)]
    ]
    assert upward == []


def test_no_module_imports_its_own_package() -> None:
    """A module importing the `__init__` of a package it sits in reaches back up through its own door."""
    upward = [
        imp.where()
        for imp in IMPORTS
        if not imp.source.startswith("cli")  # the CLI sits above the public API and uses it
        and (imp.target == "__init__" or imp.source.startswith(imp.target + "."))
    ]
    assert upward == []


def test_rooms_are_entered_through_their_doors() -> None:
    """From outside a room, only its `__init__` is imported from; inside, its modules import each other freely."""
    through_walls = [
        imp.where() for imp in IMPORTS if (room := _room(imp.via)) is not None and _room(imp.source) != room != imp.via
    ]
    assert through_walls == []


def test_the_cli_uses_the_public_api_and_the_console() -> None:
    """README: the CLI parses and prints; each command is a call of `condafarm.__all__`. Besides the API it may
    use what parsing and printing need (console, errors, numbers, defaults, redaction, version)."""
    allowed = {"__init__", "console", "errors", "numbers", "defaults", "redaction", "version"}
    beside = [
        imp.where() for imp in IMPORTS if imp.source.startswith("cli") and _unit(imp.target) not in {*allowed, "cli"}
    ]
    assert beside == []
