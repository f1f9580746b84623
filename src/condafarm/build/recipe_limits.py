"""What a recipe may cost to read: its size, its YAML once aliases are expanded, its nesting, its expressions.

A recipe is input from whoever submits a job. A 300-byte meta.yaml of nested YAML aliases expands to millions of
nodes (18 s and 366 MB, two levels more ran past 10 minutes); thousands of `not`s or `+` terms in one expression
exhaust Python's parser. Real recipes stay far below every bound here; anything above is refused in one line
before it is expanded or parsed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from ..errors import BuildError

#: A recipe file (meta.yaml, recipe.yaml, a variant config): real ones are a few kB.
MAX_BYTES = 1024 * 1024
#: YAML nodes once every alias is expanded (a big multi-output recipe has a few thousand).
MAX_NODES = 200_000
#: Nesting of YAML blocks, and of a Jinja expression or selector.
MAX_DEPTH = 64
#: Characters in one Jinja expression or selector.
MAX_EXPRESSION = 2000


def read_text(path: Path) -> str:
    """The recipe file's text, refused (`BuildError`) above `MAX_BYTES` before it is read."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise BuildError(f"{path}: {size} bytes is more than a recipe file may hold ({MAX_BYTES}); shorten it")
    return path.read_text(encoding="utf-8")


def yaml_problem(root: yaml.Node | None) -> str | None:
    """Why the composed YAML `root` is too costly to walk (aliases share nodes, walking expands them), or None."""
    level = {id(root): root} if root is not None else {}
    for _ in range(MAX_DEPTH + 1):
        below: dict[int, yaml.Node] = {}
        for node in level.values():
            below.update((id(child), child) for child in _children(node))
        level = below
        if not level:
            break
    else:
        return f"its YAML nests deeper than {MAX_DEPTH} levels (or an alias refers to itself)"
    sizes: dict[int, int] = {}

    def expanded(node: yaml.Node) -> int:  # depth is bounded above, so recursion is too
        if id(node) not in sizes:
            sizes[id(node)] = min(MAX_NODES + 1, 1 + sum(expanded(child) for child in _children(node)))
        return sizes[id(node)]

    if root is not None and expanded(root) > MAX_NODES:
        return f"its YAML expands to more than {MAX_NODES} values (nested aliases)"
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_yaml(path: Path, text: str) -> None:
    """Refuse (`BuildError`) a recipe file whose YAML costs too much to expand; YAML errors are left to the
    reader that reports them with their line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return
    except RecursionError:
        problem: str | None = f"its YAML nests deeper than {MAX_DEPTH} levels"
    else:
        problem = yaml_problem(root)
    if problem is not None:
        raise BuildError(f"{path}: {problem}; simplify the recipe")


def expression_problem(text: str) -> str | None:
    """Why a Jinja expression or selector is too long to parse, or None."""
    if len(text) > MAX_EXPRESSION:
        return f"is longer than {MAX_EXPRESSION} characters"
    return None


def parsed_problem(node: ast.AST) -> str | None:
    """Why a parsed expression nests too deeply to translate (the translation recurses), or None."""
    level = [node]
    for _ in range(MAX_DEPTH + 1):
        level = [child for item in level for child in ast.iter_child_nodes(item)]
        if not level:
            return None
    return f"nests deeper than {MAX_DEPTH} levels"


__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_EXPRESSION",
    "MAX_NODES",
    "check_yaml",
    "expression_problem",
    "parsed_problem",
    "read_text",
    "yaml_problem",
]
