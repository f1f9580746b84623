"""meta.yaml's sections (package, source, build, requirements, test, about, extra) as recipe.yaml's.

Each conda-build key either has a rattler-build equivalent (renamed or moved, e.g. `build.run_exports` to
`requirements.run_exports`), is dropped with a note saying why that is safe, or is refused with its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..license import current_license
from . import steps
from .jinja import Refused
from .tree import Alt, Entry, Item, Map, Node, Scalar, Seq, both, entries, items, resolve

Path_ = tuple[str, ...]

PACKAGE: dict[str, Path_] = {"name": ("package", "name"), "version": ("package", "version")}
BUILD: dict[str, Path_] = {
    "number": ("build", "number"),
    "string": ("build", "string"),
    "noarch": ("build", "noarch"),
    "entry_points": ("build", "python", "entry_points"),
    "binary_relocation": ("build", "dynamic_linking", "binary_relocation"),
    "missing_dso_whitelist": ("build", "dynamic_linking", "missing_dso_allowlist"),
    "rpaths": ("build", "dynamic_linking", "rpaths"),
    "always_include_files": ("build", "always_include_files"),
    "merge_build_host": ("build", "merge_build_and_host_envs"),
    "ignore_prefix_files": ("build", "prefix_detection", "ignore"),
    "has_prefix_files": ("build", "prefix_detection", "force_file_type", "text"),
    "binary_has_prefix_files": ("build", "prefix_detection", "force_file_type", "binary"),
    "run_exports": ("requirements", "run_exports"),
    "ignore_run_exports": ("requirements", "ignore_run_exports", "by_name"),
    "ignore_run_exports_from": ("requirements", "ignore_run_exports", "from_package"),
}
DROPPED = {
    "overlinking_ignore_patterns": "rattler-build only warns about overlinking unless told to fail",
    "overdepending_ignore_patterns": "rattler-build only warns about overdepending unless told to fail",
    "include_recipe": "rattler-build always puts the recipe in the package",
}
REQUIREMENTS: dict[str, Path_] = {
    "build": ("requirements", "build"),
    "host": ("requirements", "host"),
    "run": ("requirements", "run"),
    "run_constrained": ("requirements", "run_constraints"),
}
ABOUT: dict[str, Path_] = {
    "home": ("about", "homepage"),
    "dev_url": ("about", "repository"),
    "doc_url": ("about", "documentation"),
    # some conda-build recipes (the samples' among them) already use rattler-build's names
    **{k: ("about", k) for k in ("license", "license_family", "license_file", "summary", "description")},
    **{k: ("about", k) for k in ("homepage", "repository", "documentation")},
}
SOURCE = {
    "url": "url",
    "sha256": "sha256",
    "md5": "md5",
    "fn": "file_name",
    "folder": "target_directory",
    "patches": "patches",
    "path": "path",
    "git_url": "git",
    "git_rev": "rev",
    "git_depth": "depth",
}
RUN_EXPORTS = {
    k: k.replace("constrains", "constraints")
    for k in ("weak", "strong", "noarch", "weak_constrains", "strong_constrains")
}
#: Targets that are lists in rattler-build (a single value or a selector makes a list).
LISTY = frozenset(
    {
        *("build", "host", "run", "run_constraints", "entry_points", "missing_dso_allowlist", "rpaths"),
        *("always_include_files", "by_name", "from_package", "text", "binary", "license_file"),
    }
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass
class Converted:
    """The rattler-build recipe (as data) and what the conversion changed or dropped, one note per line."""

    recipe: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _put(recipe: dict[str, Any], path: Path_, value: Any) -> None:
    target = recipe
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _section(entry: Entry, name: str) -> dict[str, Entry]:
    alts = [(c, n) for c, n in entry.alts if not (isinstance(n, Scalar) and n.value is None)]
    if any(not isinstance(node, Map) for _, node in alts):
        raise Refused(entry.line, f"{name}: must be a mapping")
    return entries(alts)


def _rename(node: Map, table: dict[str, str], where: str) -> Map:
    renamed = Map(line=node.line)
    for item in node.items:
        if item.key not in table:
            raise Refused(item.line, f"{where}.{item.key} cannot be converted")
        renamed.items.append(Item(table[str(item.key)], item.node, item.cond, item.line))
    return renamed


def _last_wins(alts: list[Alt]) -> list[Alt]:
    """A key written more than once (`source:` twice): conda-build's YAML reader keeps the last one left after
    selectors, so each earlier one applies only where no later one does, and none before an unconditional one."""
    kept: list[Alt] = []
    later: list[str] = []
    for cond, node in reversed(alts):
        unless = f"not ({' or '.join(later)})" if later else None
        kept.append((both(cond, unless), node))
        if cond is None:
            break
        later.append(cond)
    return kept[::-1]


def _lift(node: Map) -> list[tuple[str | None, Map]]:
    """A source whose keys carry selectors, as one source per selector (the selectors are taken to exclude each
    other, as conda-build recipes write per-platform urls and checksums); unconditional keys go in each."""
    conds = list(dict.fromkeys(i.cond for i in node.items if i.cond is not None))
    if not conds:
        return [(None, node)]
    return [
        (c, Map([Item(i.key, i.node, None, i.line) for i in node.items if i.cond in (None, c)], node.line))
        for c in conds
    ]


class _Converter:
    def __init__(self, recipe_dir_files: Collection[str], rebase: Callable[[str], str]) -> None:
        self.files, self.rebase = recipe_dir_files, rebase
        self.recipe: dict[str, Any] = {}
        self.notes: list[str] = []

    def note(self, line: int, text: str) -> None:
        self.notes.append(f"meta.yaml:{line}: {text}")

    def mapped(self, keys: dict[str, Entry], table: dict[str, Path_], section: str) -> None:
        for key, entry in keys.items():
            if key not in table:
                raise Refused(entry.line, f"{section}.{key} cannot be converted")
            path = table[key]
            alts = entry.alts
            if path[-1] == "run_exports":
                alts = [(c, _rename(n, RUN_EXPORTS, "build.run_exports") if isinstance(n, Map) else n) for c, n in alts]
            value = resolve(alts, listy=path[-1] in LISTY)
            _put(self.recipe, path, steps.specs(value) if path[0] == "requirements" else value)

    def source(self, entry: Entry) -> None:
        pairs: list[tuple[str | None, Map]] = []
        for cond, node in _last_wins(entry.alts):
            if isinstance(node, Scalar) and node.value is None:
                continue  # `source:` with only comments under it: no source
            for sub_cond, sub in [(cond, node)] if isinstance(node, Map) else self._source_items(node):
                pairs += [(both(sub_cond, c), lifted) for c, lifted in _lift(sub)]
        if pairs:
            self.recipe["source"] = items(list(pairs), lower=self._one_source)

    def _source_items(self, node: Any) -> list[tuple[str | None, Map]]:
        """A source list's mappings, each with its condition; an item written rattler-build's way
        (`- if: win` / `then:` / `else:`) gives its branches under the condition and its negation."""
        if not isinstance(node, Seq) or any(not isinstance(i.node, Map) for i in node.items):
            raise Refused(node.line, "source: must be a mapping or a list of mappings")
        found: list[tuple[str | None, Map]] = []
        for item in node.items:
            assert isinstance(item.node, Map)
            keys = {str(i.key): i for i in item.node.items}
            if "if" not in keys:
                found.append((item.cond, item.node))
                continue
            if set(keys) - {"if", "then", "else"} or not isinstance(keys["if"].node, Scalar) or "then" not in keys:
                raise Refused(item.line, "a conditional source item has `if:`, `then:` and optionally `else:`")
            test = str(keys["if"].node.value).removeprefix("${{").removesuffix("}}").strip()
            for branch, cond in (("then", test), ("else", f"not ({test})")):
                if branch in keys:
                    branch_node = keys[branch].node
                    found += [(both(item.cond, both(cond, c)), m) for c, m in self._source_items_of(branch_node)]
        return found

    def _source_items_of(self, node: Node) -> list[tuple[str | None, Map]]:
        return [(None, node)] if isinstance(node, Map) else self._source_items(node)

    def _one_source(self, node: Any) -> dict[str, Any]:
        source: dict[str, Any] = resolve([(None, _rename(node, SOURCE, "source"))])
        url = source.get("url")
        relative = isinstance(url, str) and (
            (url.startswith("file://") and not url.startswith("file:///"))
            or (not url.startswith("${{") and not _SCHEME.match(url))
        )
        if relative:
            # the samples' `url: archive_files/X.zip` (and `file://archive_files/...`) name a file by the recipe
            path = str(url).removeprefix("file://")
            self.note(node.line, "a source url without a scheme is a file: it becomes a path from the recipe folder")
            source = {("path" if k == "url" else k): (path if k == "url" else v) for k, v in source.items()}
        if isinstance(source.get("path"), str):
            source["path"] = self.rebase(source["path"])
        return source

    def build(self, keys: dict[str, Entry], requirements: dict[str, Entry]) -> None:
        script_env = keys.pop("script_env", None)
        script = keys.pop("script", None)
        skip = keys.pop("skip", None)
        detect = keys.pop("detect_binary_files_with_prefix", None)
        for key in [k for k in keys if k in DROPPED]:
            self.note(keys.pop(key).line, f"build.{key} dropped: {DROPPED[key]}")
        if skip is not None:
            _put(self.recipe, ("build", "skip"), steps.skip(skip))
        self.mapped(keys, BUILD, "build")
        if detect is not None:
            flipped: list[Alt] = []
            for cond, node in detect.alts:
                if not isinstance(node, Scalar) or not isinstance(node.value, bool):
                    raise Refused(detect.line, "build.detect_binary_files_with_prefix must be true or false")
                flipped.append((cond, Scalar(not node.value, node.line)))
            _put(self.recipe, ("build", "prefix_detection", "ignore_binary_files"), resolve(flipped))
        value = steps.script(script, script_env, self.files, self.note)
        if value is not None:
            _put(self.recipe, ("build", "script"), value)
        build_reqs = requirements.get("build")
        if build_reqs is None or "host" in requirements or "merge_build_host" in keys:
            return
        if "compiler(" not in str(resolve(build_reqs.alts, listy=True)):
            # conda-build builds a recipe without host requirements or compilers in one environment
            _put(self.recipe, ("build", "merge_build_and_host_envs"), True)
            self.note(build_reqs.line, "no requirements.host: build and host share one environment, as in conda-build")

    def about(self, keys: dict[str, Entry]) -> None:
        for key in [k for k in keys if k not in ABOUT]:
            entry = keys.pop(key)
            self.note(entry.line, f"about.{key} has no rattler-build field: kept as extra.{key}")
            _put(self.recipe, ("extra", key), resolve(entry.alts))
        self.mapped(keys, ABOUT, "about")
        license = self.recipe.get("about", {}).get("license")
        if isinstance(license, str) and current_license(license) != license:
            self.note(
                keys["license"].line,
                f"license {license!r} uses deprecated SPDX ids, which rattler-build refuses: it becomes "
                f"{current_license(license)}",
            )
            license = self.recipe["about"]["license"] = current_license(license)
        if isinstance(license, str) and "${{" not in license and not _is_spdx(license):
            custom = "LicenseRef-" + re.sub(r"[^A-Za-z0-9.-]+", "-", license).strip("-")
            self.note(
                keys["license"].line,
                f"license {license!r} is not an SPDX expression, which rattler-build requires: it becomes {custom}",
            )
            self.recipe["about"]["license"] = custom


def _is_spdx(license: str) -> bool:
    """Whether rattler-build takes `license` (an SPDX expression); conda-build took any text."""
    from rattler_build import Stage0Recipe

    try:
        Stage0Recipe.from_yaml(
            yaml.safe_dump({"package": {"name": "x", "version": "1"}, "about": {"license": license}})
        )
    except Exception:  # rattler-build raises its own parse error type
        return False
    return True


ORDER = ("context", "package", "source", "build", "requirements", "tests", "about", "extra")


def convert(root: Map, context: dict[str, object], files: Collection[str], rebase: Callable[[str], str]) -> Converted:
    """The recipe.yaml for a parsed meta.yaml. `files` are the names in the recipe folder (build.sh, bld.bat,
    run_test.*); `rebase` turns a path relative to meta.yaml's folder into one relative to where the recipe goes."""
    sections = entries([(None, root)])
    for name, entry in sections.items():
        if name == "outputs":
            raise Refused(entry.line, "outputs: (several packages from one recipe) cannot be converted")
        if name not in ("package", "source", "build", "requirements", "test", "about", "extra"):
            raise Refused(entry.line, f"{name}: cannot be converted")
    out = _Converter(files, rebase)
    if context:
        out.recipe["context"] = context
    if "package" in sections:
        out.mapped(_section(sections["package"], "package"), PACKAGE, "package")
    if "source" in sections:
        out.source(sections["source"])
    requirements = _section(sections["requirements"], "requirements") if "requirements" in sections else {}
    out.build(_section(sections["build"], "build") if "build" in sections else {}, requirements)
    out.mapped(requirements, REQUIREMENTS, "requirements")
    test = sections.get("test")
    tests = steps.tests(_section(test, "test") if test else {}, test.line if test else 0, files, out.note)
    if tests:
        out.recipe["tests"] = tests
    if "about" in sections:
        out.about(_section(sections["about"], "about"))
    if "extra" in sections:
        _put(out.recipe, ("extra",), {**resolve(sections["extra"].alts), **out.recipe.get("extra", {})})
    recipe = {k: out.recipe[k] for k in ORDER if k in out.recipe}
    return Converted(recipe, out.notes)
