"""meta.yaml as a tree whose entries carry their `# [selector]` conditions, and its lowering to rattler-build's
`if:`/`then:` lists and `${{ }}` conditional values.

conda-build drops a line whose selector is false before reading YAML, so a key may appear several times, each
under its own selector, and the last one left wins. The tree keeps every entry with its condition (a condition on
a key that holds a block applies to everything in it); `resolve` then writes each key once: a list gathers its
items, each under its condition; a scalar becomes `${{ later if its_condition else earlier }}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

from .. import recipe_limits
from .jinja import PLACEHOLDER_RE, Refused, Template


@dataclass
class Scalar:
    value: Any
    line: int


@dataclass
class Item:
    """A mapping entry (`key` set) or a sequence item, with the condition it is under."""

    key: str | None
    node: Node
    cond: str | None
    line: int


@dataclass
class Seq:
    items: list[Item] = field(default_factory=list)
    line: int = 0


@dataclass
class Map:
    items: list[Item] = field(default_factory=list)
    line: int = 0

    def keys(self) -> list[str]:
        return list(dict.fromkeys(str(i.key) for i in self.items))


Node = Union[Scalar, Seq, Map]  # noqa: UP007 - a runtime alias, evaluated on Python 3.10
Alt = tuple[str | None, Node]
_TEMPLATE_PART = re.compile(r"\$\{\{ (.*?) \}\}")


def both(first: str | None, second: str | None) -> str | None:
    """Both conditions (None is "always")."""
    if first is None or second is None or first == second:
        return first or second
    wrap = [f"({c})" if " or " in c or " if " in c else c for c in (first, second)]
    return f"{wrap[0]} and {wrap[1]}"


def parse(template: Template) -> Map:
    """The preprocessed meta.yaml as a tree; a selector inside a multi-line string is refused."""
    loader = yaml.SafeLoader(template.text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise Refused(mark.line + 1 if mark else 0, f"not YAML after Jinja: {exc.problem or exc}") from None
    except RecursionError:
        raise Refused(0, f"its YAML nests deeper than {recipe_limits.MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    if root is None:
        return Map()
    too_costly = recipe_limits.yaml_problem(root)
    if too_costly is not None:
        raise Refused(root.start_mark.line + 1, too_costly)
    node = _build(root, template, loader)
    if not isinstance(node, Map):
        raise Refused(1, "meta.yaml must be a mapping (package:, source:, build:...)")
    return node


def _text(value: str, template: Template) -> str:
    return PLACEHOLDER_RE.sub(lambda m: "${{ " + template.expressions[int(m.group(1))] + " }}", value)


def _build(node: yaml.Node, template: Template, loader: yaml.SafeLoader) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result = Map(line=line)
        for key, child in node.value:
            if not isinstance(key, yaml.ScalarNode) or PLACEHOLDER_RE.search(key.value):
                raise Refused(key.start_mark.line + 1, "keys must be plain names, without Jinja")
            at = key.start_mark.line + 1
            result.items.append(Item(key.value, _build(child, template, loader), template.selectors.get(at), at))
        return result
    if isinstance(node, yaml.SequenceNode):
        result_seq = Seq(line=line)
        for child in node.value:
            at = child.start_mark.line + 1
            # `- url: x  # [win]` puts the selector on the first key (conda-build drops that line), not the item
            cond = None if isinstance(child, yaml.MappingNode) else template.selectors.get(at)
            result_seq.items.append(Item(None, _build(child, template, loader), cond, at))
        return result_seq
    assert isinstance(node, yaml.ScalarNode)
    inside = [n for n in template.selectors if line < n <= node.end_mark.line + (node.end_mark.column > 0)]
    if inside:
        raise Refused(inside[0], "a selector inside a multi-line string cannot be converted; use a list of lines")
    value: Any = loader.construct_object(node)
    # Text stays as written: `1.10` is a version, not a float; a checksum of digits only is not a number
    number = isinstance(value, int) and not isinstance(value, bool) and str(value) == node.value.lstrip("+")
    if not (value is None or isinstance(value, bool) or (number and len(node.value) < 16)):
        value = _text(node.value, template)
    return Scalar(value, line)


def as_expression(value: Any) -> str:
    """A scalar (possibly with `${{ }}` parts) as one minijinja expression."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if not isinstance(value, str):
        return repr(value)
    parts: list[str] = []
    for i, piece in enumerate(_TEMPLATE_PART.split(value)):
        if i % 2:
            parts.append(f"({piece})" if " " in piece else piece)
        elif piece:
            parts.append("'" + piece.replace("\\", "\\\\").replace("'", "\\'") + "'")
    return " ~ ".join(parts) or "''"


def _conditional(alts: list[tuple[str | None, Scalar]]) -> Any:
    """One value for a scalar key written several times under selectors: the last true one wins."""
    if alts[-1][0] is None:
        return alts[-1][1].value
    expression: str | None = None
    for cond, scalar in alts:
        value = as_expression(scalar.value)
        expression = value if cond is None else f"{value} if {cond}" + (f" else {expression}" if expression else "")
    return "${{ " + str(expression) + " }}"


def resolve(alts: list[Alt], listy: bool = False) -> Any:
    """The rattler-build value of one key given every (condition, node) written for it.

    `listy` keys (requirements, scripts, commands) accept a scalar as a one-item list.
    """
    if (listy and any(c is not None for c, _ in alts)) or any(isinstance(n, Seq) for _, n in alts):
        if not all(isinstance(n, Seq) for _, n in alts) and not listy:
            raise Refused(alts[0][1].line, "a key is a list under one selector and not under another")
        pairs: list[Alt] = []
        for cond, node in alts:
            if isinstance(node, Seq):
                pairs += [(both(cond, item.cond), item.node) for item in node.items]
            else:
                pairs.append((cond, node))
        return items(pairs)
    if all(isinstance(n, Map) for _, n in alts):
        return {key: resolve(entry.alts) for key, entry in entries(alts).items()}
    if all(isinstance(n, Scalar) for _, n in alts):
        return _conditional([(c, n) for c, n in alts if isinstance(n, Scalar)])
    raise Refused(alts[0][1].line, "a key is a mapping under one selector and a value under another")


@dataclass
class Entry:
    """Every value written for one key, each under the conditions that lead to it; `line` is the key's first."""

    line: int
    alts: list[Alt] = field(default_factory=list)


def entries(alts: list[Alt]) -> dict[str, Entry]:
    """The keys of the mappings in `alts` (in order), each with its entries."""
    grouped: dict[str, Entry] = {}
    for cond, node in alts:
        if not isinstance(node, Map):
            raise Refused(node.line, "expected a mapping (key: value lines) here")
        for item in node.items:
            entry = grouped.setdefault(str(item.key), Entry(item.line))
            entry.alts.append((both(cond, item.cond), item.node))
    return grouped


def items(pairs: list[Alt], lower: Callable[[Node], Any] | None = None) -> list[Any]:
    """List items, each under its condition as `if:`/`then:`; neighbours under the same condition share one."""
    result: list[Any] = []
    for cond, node in pairs:
        value = lower(node) if lower else resolve([(None, node)])
        if cond is None:
            result.append(value)
            continue
        last = result[-1] if result else None
        if isinstance(last, dict) and last.get("if") == cond and "else" not in last:
            then = last["then"] if isinstance(last["then"], list) else [last["then"]]
            last["then"] = [*then, value]
        else:
            result.append({"if": cond, "then": value})
    return result
