"""conda-build's Jinja over values known when converting, evaluated as conda-build evaluates it.

conda-build renders meta.yaml with Jinja2, whose string methods are Python's (`".".join(version.split(".")[:2])`);
rattler-build's minijinja has no such methods. An expression that `jinja.py` cannot write in minijinja but that
uses only `{% set %}` values known when converting is evaluated here instead, and its value goes into the recipe.
Only constants, known names, a fixed set of str/list methods and Jinja filters, operators, subscripts and slices
are evaluated; anything else (attributes, other calls, unknown names) is `NotConstant`, and every string, list
and number made is bounded in size, so a recipe cannot make the converter run code or exhaust memory or time.
"""

from __future__ import annotations

import ast
import operator
import re
import string
from collections.abc import Callable, Mapping
from typing import Any

#: The longest string or list an expression may make (recipes' values are names, versions and URLs).
MAX_SIZE = 65_536
#: The largest integer an expression may make, in bits (about 300 digits): each `{% set %}` could otherwise
#: multiply the digits of the one before, and a few dozen lines would take hours.
MAX_INT_BITS = 1024
_STR_METHODS = frozenset(
    {
        *("split", "rsplit", "join", "replace", "lower", "upper", "strip", "lstrip", "rstrip", "title"),
        *("capitalize", "startswith", "endswith", "zfill", "count", "find", "rfind", "format", "partition"),
        *("rpartition", "isdigit", "isalpha", "isalnum", "splitlines", "casefold", "swapcase", "removeprefix"),
        "removesuffix",
    }
)
_LIST_METHODS = frozenset({"index", "count"})
_PERCENT_FIELD = re.compile(r"%(.)")
_NAMED = {"true": True, "True": True, "false": False, "False": False, "none": None, "None": None}


class NotConstant(Exception):
    """The expression needs something not known when converting, or something this evaluator does not do."""


def _jinja_int(value: Any, default: int = 0) -> int:
    """Jinja2's `int` filter: int(), else int(float()), else the default."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


#: Jinja2's filters as conda-build's Jinja2 applies them, for the filters recipes use.
FILTERS: dict[str, Callable[..., Any]] = {
    "lower": lambda v: str(v).lower(),
    "upper": lambda v: str(v).upper(),
    "trim": lambda v, chars=None: str(v).strip(chars),
    "title": lambda v: str(v).title(),
    "capitalize": lambda v: str(v).capitalize(),
    "replace": lambda v, old, new, count=-1: str(v).replace(old, new, count),
    "join": lambda v, d="": str(d).join(str(x) for x in v),
    "first": lambda v: next(iter(v)),
    "last": lambda v: list(v)[-1],
    "length": len,
    "count": len,
    "int": _jinja_int,
    "float": lambda v, default=0.0: float(v) if _is_number(v) else default,
    "string": str,
    "list": list,
    "reverse": lambda v: v[::-1] if isinstance(v, str) else list(reversed(v)),
    "sort": lambda v, reverse=False: sorted(v, reverse=reverse),
    "unique": lambda v: list(dict.fromkeys(v)),
    "abs": abs,
    "round": lambda v, precision=0: round(float(v), precision),
    "default": lambda v, default="", boolean=False: default if boolean and not v else v,
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.MatMult: lambda a, b: f"{_text(a)}{_text(b)}",  # Jinja's `~` (jinja.py parses it as `@`)
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _text(value: Any) -> str:
    """A value as Jinja2 prints it."""
    return str(value)


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise NotConstant(f"the number would be longer than {MAX_INT_BITS} bits")
    if isinstance(value, str | list | tuple) and (len(value) > MAX_SIZE or _size(value) > MAX_SIZE):
        raise NotConstant(f"the value would be longer than {MAX_SIZE}")
    return value


def _size(value: Any) -> int:
    """Characters `value` prints as (a list: its items' and one per item), counted only until past MAX_SIZE: a
    short list can hold one long string many times, or lists of lists, which printed or walked whole would take
    gigabytes or hours."""
    total, todo = 0, [value]
    while todo and total <= MAX_SIZE:
        item = todo.pop()
        if isinstance(item, list | tuple):
            total += len(item)
            todo.extend(item)
        else:
            total += len(item) if isinstance(item, str) else len(str(item))
    return total


def _check_growth(template: Any, args: list[Any]) -> None:
    """Refuse, before making it, a join/format/replace/% result that could exceed MAX_SIZE: each of the
    template's characters may become the largest argument, and a joined list adds the separator per item."""
    parts = [a for arg in args for a in (arg if isinstance(arg, list | tuple) else [arg])]
    largest = max((_size(a) for a in parts), default=0)
    bound = _size(template) * (1 + largest) + sum(_size(a) for a in parts) + _size(template) * len(parts)
    if bound > MAX_SIZE:
        raise NotConstant(f"the value could be longer than {MAX_SIZE}")


def _check_format(template: str) -> None:
    """str.format with plain fields only: `{}`, `{0}`, `{name}` (no attributes, indexes or format specs)."""
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is not None and (spec or conversion or not re.fullmatch(r"\w*", field)):
            raise NotConstant(f"format field {{{field}}} is not a plain one")


def _check_percent(template: str) -> None:
    """`%` formatting with plain `%s`/`%d`/`%i` only (no widths, which could make any size)."""
    for match in _PERCENT_FIELD.finditer(template.replace("%%", "")):
        if match.group(1) not in "sdi":
            raise NotConstant("only %s, %d and %i are evaluated")


class _Evaluator:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def value(self, node: ast.expr) -> Any:
        return _bounded(self._value(node))

    def _value(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool | type(None)):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.values:
                return self.values[node.id]
            if node.id in _NAMED:
                return _NAMED[node.id]
            raise NotConstant(f"{node.id} is not known when converting")
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(e) for e in node.elts]
        if isinstance(node, ast.BoolOp):
            result: Any = None
            for item in node.values:
                result = self.value(item)
                if bool(result) != isinstance(node.op, ast.And):
                    return result
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            operand = self.value(node.operand)
            return not operand if isinstance(node.op, ast.Not) else -operand
        if isinstance(node, ast.IfExp):
            return self.value(node.body) if self.value(node.test) else self.value(node.orelse)
        if isinstance(node, ast.Compare):
            left = self.value(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                if type(op) not in _COMPARE:
                    return self._refuse(node)
                right = self.value(right_node)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Subscript):
            target = self.value(node.value)
            if not isinstance(target, str | list | tuple):
                raise NotConstant("only strings and lists are subscripted")
            if isinstance(node.slice, ast.Slice):
                low, high, step = (
                    self.value(n) if n else None for n in (node.slice.lower, node.slice.upper, node.slice.step)
                )
                return target[low:high:step]
            return target[self.value(node.slice)]
        if isinstance(node, ast.Call):
            return self.call(node)
        return self._refuse(node)

    @staticmethod
    def _refuse(node: ast.expr) -> Any:
        raise NotConstant(f"`{ast.unparse(node)}` is not evaluated")

    def binary(self, node: ast.BinOp) -> Any:
        if isinstance(node.op, ast.BitOr):
            return self.filter(node)
        left, right = self.value(node.left), self.value(node.right)
        if isinstance(node.op, ast.Mod) and isinstance(left, str):
            _check_percent(left)
            _check_growth(left, [right])
            return left % (tuple(right) if isinstance(right, list) else right)
        if isinstance(node.op, ast.Mult) and isinstance(left, str | list) != isinstance(right, str | list):
            count = right if isinstance(left, str | list) else left
            if not isinstance(count, int) or count * len(left if isinstance(left, str | list) else right) > MAX_SIZE:
                raise NotConstant("a repeated string would be too long")
        if type(node.op) not in _BINARY:
            return self._refuse(node)
        return _BINARY[type(node.op)](left, right)

    def arguments(self, call: ast.Call) -> tuple[list[Any], dict[str, Any]]:
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            raise NotConstant("* and ** arguments are not evaluated")
        return [self.value(a) for a in call.args], {str(k.arg): self.value(k.value) for k in call.keywords}

    def filter(self, node: ast.BinOp) -> Any:
        right = node.right
        name = right.func.id if isinstance(right, ast.Call) and isinstance(right.func, ast.Name) else None
        name = right.id if isinstance(right, ast.Name) else name
        if name not in FILTERS:
            return self._refuse(right)
        args, kwargs = self.arguments(right) if isinstance(right, ast.Call) else ([], {})
        value = self.value(node.left)
        if name in ("join", "replace"):
            _check_growth(value, [*args, *kwargs.values()])
        return FILTERS[name](value, *args, **kwargs)

    def call(self, node: ast.Call) -> Any:
        func = node.func
        if not isinstance(func, ast.Attribute):
            return self._refuse(node)
        target = self.value(func.value)
        allowed = _STR_METHODS if isinstance(target, str) else _LIST_METHODS if isinstance(target, list) else ()
        if func.attr not in allowed:
            raise NotConstant(f"`.{func.attr}()` is not evaluated")
        args, kwargs = self.arguments(node)
        if func.attr == "format":
            _check_format(target)
        if func.attr in ("format", "join", "replace"):
            _check_growth(target, [*args, *kwargs.values()])
        if func.attr == "zfill" and (not args or not isinstance(args[0], int) or args[0] > MAX_SIZE):
            raise NotConstant("zfill width out of bounds")
        return getattr(target, func.attr)(*args, **kwargs)


def evaluate(node: ast.expr, values: Mapping[str, Any]) -> Any:
    """The value of a parsed conda-build Jinja expression over `values`, or `NotConstant`."""
    try:
        return _Evaluator(values).value(node)
    except NotConstant:
        raise
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, ZeroDivisionError, OverflowError) as exc:
        raise NotConstant(f"{type(exc).__name__}: {exc}") from None
    except StopIteration:
        raise NotConstant("first of an empty value") from None
    except RecursionError:
        raise NotConstant("the expression nests too deeply") from None
