"""Recipes (rattler-build's v1 `recipe.yaml`): find, load and render them, and apply condafarm's overrides.

rattler-build's own messages for a bad recipe often say neither the line nor the key (`unknown field 'numbr'`);
a user on a farm reading a job log needs both, so errors are located here against the YAML itself.
Overrides (build number, source archive) are applied to a copy of the recipe folder, never to the user's files.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import BuildError, UsageError
from .conda_build import converted_recipe

RECIPE_NAMES = ("recipe.yaml", "recipe.yml")
VARIANT_NAMES = ("variants.yaml", "variants.yml")


@dataclass(frozen=True)
class Output:
    """One package a rendered recipe makes: what `--dry-run` prints and what the build number applies to."""

    name: str
    version: str
    build_string: str
    build_number: int
    subdir: str

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build_string}.conda"


def find_recipe(path: Path) -> Path:
    """The recipe file for `path`: the file itself, or `recipe.yaml` inside a folder; a conda-build meta.yaml
    (alone in its folder, or given) is converted to a recipe.yaml in a temp copy (`conda_build/`)."""
    if path.is_dir():
        for name in RECIPE_NAMES:
            if (path / name).is_file():
                return (path / name).resolve()
        if (path / "meta.yaml").is_file():
            return converted_recipe(path)
        raise UsageError(f"no recipe.yaml in {path}; give a recipe.yaml or the folder that holds it")
    if not path.is_file():
        raise UsageError(f"recipe {path} not found; give a recipe.yaml or the folder that holds it")
    return converted_recipe(path) if path.name == "meta.yaml" else path.resolve()


def _key_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line, dotted key path) for every mapping key in the YAML, in document order."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    found: list[tuple[int, str]] = []

    def walk(node: yaml.Node | None, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{path}.{key.value}" if path else str(key.value)
                found.append((key.start_mark.line + 1, name))
                walk(value, name)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]")

    walk(root, "")
    return found


def rattler_message(message: str) -> str:
    """rattler-build's error message on one line, without its exception-type prefix or Rust debug wrapping."""
    message = re.sub(r"^(Py)?RattlerBuildError:\s*", "", message.strip())
    inner = re.search(r'message: "(.*?)", span', message)
    text = (inner.group(1) if inner else message).replace('\\"', '"')
    return "; ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def locate_error(recipe: Path, exc: Exception) -> BuildError:
    """A `BuildError` saying `FILE:LINE: KEY: what is wrong` for a recipe that failed to load or render."""
    message = str(exc)
    text = recipe.read_text(encoding="utf-8", errors="replace")
    keys = _key_lines(text)
    line: int | None = None
    key: str | None = None
    position = re.search(r"line: (\d+), column: \d+", message) or re.search(r"(?:^|: )(\d+):\d+: ", message)
    if position:
        line = int(position.group(1))
        key = next((k for n, k in reversed(keys) if n <= line), None)
    else:
        # `invalid value for 'build': unknown field 'numbr'`: the innermost name is the last one
        for name in reversed(re.findall(r"'([\w.-]+)'", message)):
            hit = next(((n, k) for n, k in keys if k.rsplit(".", 1)[-1] == name), None)
            if hit:
                line, key = hit
                break
    where = f"{recipe}:{line}" if line else str(recipe)
    what = f"{key}: " if key else ""
    return BuildError(f"{where}: {what}{rattler_message(message)}; fix the recipe and run again")


def load_recipe(recipe: Path) -> Any:
    """Parse a recipe file into rattler-build's stage-0 recipe, raising a located `BuildError`."""
    from rattler_build import Stage0Recipe

    try:
        return Stage0Recipe.from_file(recipe)
    except Exception as exc:  # rattler-build raises its own exception types for every parse error
        raise locate_error(recipe, exc) from exc


def variant_files(recipe: Path, given: Sequence[Path]) -> list[Path]:
    """The variant configs to use: those given, else a `variants.yaml` next to the recipe (as rattler-build does)."""
    if given:
        missing = [p for p in given if not p.is_file()]
        if missing:
            raise UsageError(f"variant config {missing[0]} not found")
        return list(given)
    return [recipe.parent / n for n in VARIANT_NAMES if (recipe.parent / n).is_file()][:1]


def render(stage0: Any, recipe: Path, variants: Sequence[Path], target_platform: str | None) -> list[Any]:
    """Render every variant of every output (rattler-build `RenderedVariant`s), raising a located `BuildError`."""
    from rattler_build import RenderConfig, VariantConfig
    from rattler_build.tool_config import PlatformConfig

    try:
        config = VariantConfig.from_files([str(p) for p in variants]) if variants else VariantConfig()
        platform = PlatformConfig(target_platform=target_platform) if target_platform else None
        return list(stage0.render(config, RenderConfig(platform=platform)))
    except Exception as exc:  # rattler-build raises its own exception types for every render error
        raise locate_error(recipe, exc) from exc


def output_of(variant: Any) -> Output:
    """Name, version, build string and number, and subdir of one rendered variant."""
    stage1 = variant.recipe
    subdir = "noarch" if stage1.build.noarch else str(variant.variant.get("target_platform", ""))
    return Output(
        name=stage1.package.name,
        version=str(stage1.package.version),
        build_string=str(stage1.build.string),
        build_number=int(stage1.build.number or 0),
        subdir=subdir,
    )


def _builds(recipe: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The recipe's top-level `build` section and every output's."""
    yield recipe.setdefault("build", {})
    for output in recipe.get("outputs") or []:
        if "package" in output:
            yield output.setdefault("build", {})


def _override_source(recipe: dict[str, Any], archive: Path) -> None:
    """Point the recipe's first source at `archive`, keeping where it unpacks and its patches."""
    sources = recipe.get("source") or []
    if isinstance(sources, dict):
        sources = [sources]
    kept = {k: v for k, v in (sources[0] if sources else {}).items() if k in ("target_directory", "patches")}
    recipe["source"] = [{"path": str(archive), **kept}, *sources[1:]]


def staged_recipe(
    stage0: Any, recipe: Path, *, build_number: int | None, source: Path | None, exclude: Sequence[Path] = ()
) -> Path:
    """A copy of the recipe folder (in a new temp folder) whose recipe has the overrides applied.

    The user's recipe stays untouched; the copy keeps the scripts and files the recipe refers to through
    `RECIPE_DIR`. `exclude` names folders not to copy (an output folder inside the recipe folder).
    """
    skip = {p.resolve() for p in exclude}

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if (Path(folder) / n).resolve() in skip or n in (".git", "__pycache__")]

    staging = Path(tempfile.mkdtemp(prefix="condafarm-recipe-"))
    target = staging / recipe.parent.name
    shutil.copytree(recipe.parent, target, ignore=ignore)
    data: dict[str, Any] = stage0.to_dict()
    if build_number is not None:
        for build in _builds(data):
            build["number"] = build_number
    if source is not None:
        _override_source(data, source.resolve())
    staged = target / recipe.name
    staged.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return staged
