"""conda-build's Jinja (`{% set %}`, `{{ }}`) and `# [selector]` lines, rewritten for rattler-build's minijinja.

conda-build renders meta.yaml as Jinja text and evaluates selectors as Python before it reads any YAML.
rattler-build reads YAML first and evaluates `${{ }}` and `if:` itself. So expressions are translated here, one
line at a time, into placeholders the YAML reader can carry (`tree.py` puts them back). Expressions are parsed
with Python's own parser (Jinja's expression syntax is close to Python's; conda-build's selectors are Python) and
written back in minijinja's syntax; every name must be known, so a typo or a conda-build-only function is
refused with its line instead of silently evaluating to nothing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from .. import recipe_limits
from ..skip import platform_names
from .evaluate import NotConstant, evaluate

#: Names rattler-build defines in conditions and expressions for the target platform (`skip.py` values them).
PLATFORM_NAMES = frozenset(platform_names("linux-64"))
#: conda-build's platform names whose meaning differs from rattler-build's name (conda-build's `ns_cfg`), as
#: rattler-build conditions: conda-build's `x86` is any x86 platform (linux-64 too), rattler-build's 32-bit only;
#: `arm` (linux-armv6l, linux-armv7l) is conda-build's alone.
CONDA_BUILD_PLATFORM_NAMES = {"x86": "(x86 or x86_64)", "arm": "(armv6l or armv7l)"}
#: conda-build's Python methods on strings -> minijinja filters.
METHODS = {"replace": "replace", "lower": "lower", "upper": "upper", "strip": "trim", "split": "split"}
#: Jinja filters rattler-build's minijinja has too (others are evaluated when their input is known: evaluate.py).
FILTERS = frozenset(
    {
        *("replace", "lower", "upper", "trim", "split", "join", "first", "last", "length", "default", "int"),
        *("list", "abs", "sort", "reverse"),
    }
)
#: str methods that are minijinja tests: `x.startswith(y)` is `x is startingwith(y)`.
TESTS = {"startswith": "startingwith", "endswith": "endingwith"}
#: Functions both tools have; conda-build's pin arguments get rattler-build's names.
FUNCTIONS = frozenset(["compiler", "stdlib", "cdt", "pin_subpackage", "pin_compatible"])
PIN_ARGS = {"max_pin": "upper_bound", "min_pin": "lower_bound", "exact": "exact"}
PLACEHOLDER = "__condafarm_jinja_{}__"
_UNKNOWN = object()
PLACEHOLDER_RE = re.compile(r"__condafarm_jinja_(\d+)__")

_SET = re.compile(r"^\s*\{%-?\s*set\s+([A-Za-z_]\w*)\s*=\s*(.+?)\s*-?%\}\s*$")
_EXPRESSION = re.compile(r"\{\{-?(.*?)-?\}\}")
_COMMENT = re.compile(r"\{#.*?#\}")
_SELECTOR = re.compile(r"\s#\s*\[([^\[\]]+)\]\s*$")
_STRINGS_OR_TILDE = re.compile(r"('(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\")|~")
_PY_FLAG = re.compile(r"^py(\d)(\d+)$")


class Refused(Exception):
    """A construct the converter cannot translate, at a 1-based line of meta.yaml."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class Template:
    """meta.yaml after the Jinja pass: YAML text with placeholders, and what they and the selectors mean."""

    text: str
    context: dict[str, object] = field(default_factory=dict)
    #: placeholder number -> translated expression (without `${{ }}`)
    expressions: list[str] = field(default_factory=list)
    #: 1-based line -> translated condition of its `# [selector]`
    selectors: dict[int, str] = field(default_factory=dict)
    #: `{% set %}` variables whose value is known when converting (no selector, environ or variant involved)
    values: dict[str, object] = field(default_factory=dict)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _constant(value: object) -> str:
    """A known value as a minijinja literal."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_constant(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return _quote(value) if isinstance(value, str) else repr(value)


def _version(number: int) -> str:
    """conda-build's `py`/`np` numbers (38, 310, 116) as versions (3.8, 3.10, 1.16)."""
    digits = str(number)
    return digits if len(digits) == 1 else f"{digits[0]}.{digits[1:]}"


class _Writer:
    """Writes a Python AST of a Jinja expression or selector back as minijinja, checking every name."""

    _COMPARE: ClassVar[dict[type[ast.cmpop], str]] = {
        ast.Eq: "==",
        ast.NotEq: "!=",
        ast.Lt: "<",
        ast.LtE: "<=",
        ast.Gt: ">",
        ast.GtE: ">=",
        ast.In: "in",
        ast.NotIn: "not in",
        ast.Is: "is",
        ast.IsNot: "is not",
    }
    _BINARY: ClassVar[dict[type[ast.operator], str]] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.MatMult: "~"}
    _PY_COMPARE: ClassVar[dict[type[ast.cmpop], str]] = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}

    def __init__(self, names: Collection[str], line: int, selector: bool) -> None:
        self.names, self.line, self.selector = names, line, selector

    def refuse(self, message: str) -> Refused:
        return Refused(self.line, message)

    def atom(self, node: ast.expr) -> str:
        text = self.write(node)
        if (
            self.selector
            and isinstance(node, ast.Compare)
            and not text.startswith("not ")
            and text.startswith("match(")
        ):
            return text  # `py<38` became one call
        compound = (ast.BinOp, ast.BoolOp, ast.IfExp, ast.Compare, ast.UnaryOp)
        filtered = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in METHODS
        return f"({text})" if isinstance(node, compound) or filtered else text

    def args(self, call: ast.Call, rename: dict[str, str] | None = None) -> str:
        parts = [self.write(a) for a in call.args]
        for keyword in call.keywords:
            name = keyword.arg or ""
            if rename is not None and name not in rename:
                raise self.refuse(f"argument {name}= of {ast.unparse(call.func)}() has no rattler-build equivalent")
            parts.append(f"{(rename or {}).get(name, name)}={self.write(keyword.value)}")
        return ", ".join(parts)

    def write(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            return _constant(node.value)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Compare):
            if self.selector and isinstance(node.left, ast.Name) and node.left.id in ("py", "np"):
                return self.version_match(node)
            parts = [self.atom(node.left)]
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.Is | ast.IsNot) and isinstance(right, ast.Name):
                    parts += [self._COMPARE[type(op)], right.id]  # a Jinja test: `x is defined`
                else:
                    parts += [self._COMPARE[type(op)], self.atom(right)]
            return " ".join(parts)
        if isinstance(node, ast.BoolOp):
            return f" {'and' if isinstance(node.op, ast.And) else 'or'} ".join(self.atom(v) for v in node.values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            return f"not {self.atom(node.operand)}" if isinstance(node.op, ast.Not) else f"-{self.atom(node.operand)}"
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.filter(node)
        if isinstance(node, ast.BinOp) and type(node.op) in self._BINARY:
            chained = isinstance(node.left, ast.BinOp) and type(node.left.op) is type(node.op)
            left = self.write(node.left) if chained else self.atom(node.left)  # `a + b + c` reads left to right
            return f"{left} {self._BINARY[type(node.op)]} {self.atom(node.right)}"
        if isinstance(node, ast.IfExp):
            return f"{self.atom(node.body)} if {self.atom(node.test)} else {self.atom(node.orelse)}"
        if isinstance(node, ast.Subscript):
            if self.is_environ(node.value):
                return f"env.get({self.write(node.slice)})"
            return f"{self.atom(node.value)}[{self.write(node.slice)}]"
        if isinstance(node, ast.Slice):
            low, high = (self.write(n) if n else "" for n in (node.lower, node.upper))
            return f"{low}:{high}"
        if isinstance(node, ast.List | ast.Tuple):
            return "[" + ", ".join(self.write(e) for e in node.elts) + "]"
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.refuse(f"Jinja expression `{ast.unparse(node)}` cannot be converted")

    def name(self, name: str) -> str:
        if name in ("true", "True", "false", "False"):
            return name.lower()
        if name in ("none", "None"):
            return "none"
        if self.selector and name in ("py3k", "py2k"):
            return f"match(python, {_quote('>=3' if name == 'py3k' else '<3')})"
        flag = _PY_FLAG.match(name) if self.selector else None
        if flag:
            return f"match(python, {_quote(f'{flag.group(1)}.{flag.group(2)}.*')})"
        if name in self.names or (name == "PYTHON" and not self.selector):
            return name
        if name in CONDA_BUILD_PLATFORM_NAMES:
            return CONDA_BUILD_PLATFORM_NAMES[name]
        if name in PLATFORM_NAMES:
            return name
        kind = "selector" if self.selector else "Jinja"
        raise self.refuse(f"unknown {kind} variable `{name}` (not a {{% set %}} variable or a platform name)")

    def version_match(self, node: ast.Compare) -> str:
        """`py<38` / `np>=116` -> `match(python, '<3.8')`: rattler-build compares versions of variants."""
        package = "python" if isinstance(node.left, ast.Name) and node.left.id == "py" else "numpy"
        right = node.comparators[0]
        if len(node.ops) != 1 or not isinstance(right, ast.Constant) or not isinstance(right.value, int):
            raise self.refuse(f"selector `{ast.unparse(node)}` cannot be converted")
        op, version = node.ops[0], _version(right.value)
        if isinstance(op, ast.Eq | ast.NotEq):
            test = f"match({package}, {_quote(version + '.*')})"
            return test if isinstance(op, ast.Eq) else f"not {test}"
        if type(op) not in self._PY_COMPARE:
            raise self.refuse(f"selector `{ast.unparse(node)}` cannot be converted")
        return f"match({package}, {_quote(self._PY_COMPARE[type(op)] + version)})"

    def filter(self, node: ast.BinOp) -> str:
        right = node.right
        name = right.id if isinstance(right, ast.Name) else None
        if isinstance(right, ast.Call) and isinstance(right.func, ast.Name):
            name = right.func.id
        if name not in FILTERS:
            raise self.refuse(f"Jinja filter `{ast.unparse(right)}` cannot be converted")
        arguments = f"({self.args(right)})" if isinstance(right, ast.Call) else ""
        return f"{self.atom(node.left)} | {name}{arguments}"

    @staticmethod
    def is_environ(node: ast.expr) -> bool:
        """`environ` or `os.environ`."""
        if isinstance(node, ast.Name):
            return node.id == "environ"
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "environ"
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        )

    def call(self, node: ast.Call) -> str:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get" and self.is_environ(func.value):
            if not node.args or len(node.args) > 2 or node.keywords:
                raise self.refuse(f"`{ast.unparse(node)}`: give the variable name and at most a default")
            # conda-build's environ.get gives None for an unset variable; rattler-build's env.get fails then
            default = self.write(node.args[1]) if len(node.args) == 2 else "''"
            return f"env.get({self.write(node.args[0])}, default={default})"
        if isinstance(func, ast.Attribute) and func.attr == "join" and isinstance(func.value, ast.Constant):
            if len(node.args) != 1 or node.keywords:
                raise self.refuse(f"`{ast.unparse(node)}`: join takes one list")
            return f"{self.atom(node.args[0])} | join({self.write(func.value)})"
        if isinstance(func, ast.Attribute) and func.attr in TESTS and len(node.args) == 1 and not node.keywords:
            return f"({self.atom(func.value)} is {TESTS[func.attr]}({self.write(node.args[0])}))"
        if isinstance(func, ast.Attribute) and func.attr in METHODS:
            arguments = self.args(node)
            return f"{self.atom(func.value)} | {METHODS[func.attr]}" + (f"({arguments})" if arguments else "")
        if isinstance(func, ast.Name) and func.id in FUNCTIONS:
            rename = PIN_ARGS if func.id.startswith("pin_") else None
            return f"{func.id}({self.args(node, rename)})"
        raise self.refuse(f"Jinja function `{ast.unparse(func)}()` cannot be converted")


def _parse(text: str, line: int, what: str) -> ast.expr:
    # Jinja's `~` (string concatenation) is the one operator Python lacks; `@` stands in for it while parsing.
    too_costly = recipe_limits.expression_problem(text)
    if too_costly is None:
        source = _STRINGS_OR_TILDE.sub(lambda m: m.group(1) or "@", text.strip())
        try:
            node = ast.parse(source, mode="eval").body
        except SyntaxError:
            raise Refused(line, f"{what} `{text.strip()}` cannot be converted") from None
        except (RecursionError, MemoryError):
            too_costly = f"nests deeper than {recipe_limits.MAX_DEPTH} levels"
        else:
            too_costly = recipe_limits.parsed_problem(node)
            if too_costly is None:
                return node
    raise Refused(line, f"a {what} {too_costly}")


def translate(text: str, names: Collection[str], line: int, values: Mapping[str, object] | None = None) -> str:
    """A conda-build Jinja expression as a rattler-build one (without `${{ }}`); one minijinja cannot express is
    evaluated as conda-build would when it uses only `values` (known `{% set %}` values), else refused."""
    node = _parse(text, line, "Jinja expression")
    try:
        return _Writer(names, line, selector=False).write(node)
    except Refused as refused:
        if values is None:
            raise
        try:
            return _constant(evaluate(node, values))
        except NotConstant:
            raise refused from None  # the translator's refusal names the construct


def translate_selector(text: str, names: Collection[str], line: int) -> str:
    """A conda-build selector (`not win64`, `py<38`) as a rattler-build `if:` condition."""
    return _Writer(names, line, selector=True).write(_parse(text, line, "selector"))


def _literal(node: ast.expr) -> object:
    """A `{% set %}` value that is a plain constant, kept as YAML in `context:`; anything else is an expression."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool):
        return node.value
    raise ValueError


def _set(template: Template, line: int, name: str, text: str, condition: str | None) -> None:
    """`{% set name = text %}`, under `condition` (a selector on its line): a later set wins, as in Jinja."""
    node = _parse(text, line, "Jinja expression")
    writer = _Writer(template.context, line, selector=False)
    try:
        known: object = evaluate(node, template.values)
    except NotConstant:
        known = _UNKNOWN
    if condition is None:
        try:
            template.context[name] = _literal(node)
        except ValueError:
            try:
                template.context[name] = "${{ " + writer.write(node) + " }}"
            except Refused:
                if known is _UNKNOWN:
                    raise
                # what minijinja cannot say but conda-build computes from known values: the value itself
                template.context[name] = known if isinstance(known, str | int | float | bool) else _as_jinja(known)
        if known is _UNKNOWN:
            template.values.pop(name, None)
        else:
            template.values[name] = known
        return
    template.values.pop(name, None)  # its value now depends on the platform
    earlier = template.context.get(name)
    if isinstance(earlier, str) and earlier.startswith("${{ "):
        otherwise = f" else ({earlier[4:-3]})"
    elif earlier is not None:
        otherwise = f" else {_constant(earlier)}"
    else:
        otherwise = " else ''"  # what conda-build's Jinja renders for a variable never set
    try:
        value = writer.atom(node)
    except Refused:
        if known is _UNKNOWN:
            raise
        value = _constant(known)
    template.context[name] = "${{ " + f"{value} if {condition}{otherwise}" + " }}"


def _as_jinja(value: object) -> str:
    return "${{ " + _constant(value) + " }}"


def preprocess(text: str, variant_keys: Collection[str] = ()) -> Template:
    """Take the Jinja out of meta.yaml's text, line by line, keeping line numbers for the YAML reader."""
    template = Template(text="")
    lines = text.splitlines()
    for number, raw in enumerate(lines, start=1):
        reserved = PLACEHOLDER_RE.search(raw)
        if reserved:
            raise Refused(number, f"`{reserved.group(0)}` is a name condafarm's converter uses for itself")
        line = _COMMENT.sub("", raw)
        if line.lstrip().startswith("#"):
            lines[number - 1] = ""  # a comment: conda-build renders Jinja there too, but nothing reads it
            continue
        selector = _SELECTOR.search(line)
        condition = translate_selector(selector.group(1), variant_keys, number) if selector else None
        if selector:
            line = line[: selector.start()]
        statement = _SET.match(line)
        if statement:
            _set(template, number, statement.group(1), statement.group(2), condition)
            lines[number - 1] = ""
            continue
        if "{%" in line or "{#" in line:
            raise Refused(
                number,
                "Jinja statements other than {% set %} (if, for, macro...) cannot be converted "
                "(`# [selector]` lines can)",
            )
        if condition is not None:
            template.selectors[number] = condition
        names = {*template.context, *variant_keys}

        def placeholder(match: re.Match[str], number: int = number, names: set[str] = names) -> str:
            template.expressions.append(translate(match.group(1), names, number, template.values))
            return PLACEHOLDER.format(len(template.expressions) - 1)

        line = _EXPRESSION.sub(placeholder, line)
        if "{{" in line or "}}" in line:
            raise Refused(number, "a Jinja expression must open and close on one line")
        lines[number - 1] = line
    template.text = "\n".join(lines) + "\n"
    return template
