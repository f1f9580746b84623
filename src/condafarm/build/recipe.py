"""Recipes (rattler-build's v1 `recipe.yaml`): find, load and render them, and apply condafarm's overrides.

rattler-build's own messages for a bad recipe often say neither the line nor the key (`unknown field 'numbr'`);
a user on a farm reading a job log needs both, so errors are located here against the YAML itself.
Overrides (build number, sources, package name) are applied to a copy of the recipe folder, never to the user's
files; sources are overridden as rendered for the platform being built, so conditional sources keep where they
unpack and their patches.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import BuildError, UsageError
from ..safe_files import copy_folder, inside, write_file
from . import recipe_limits
from .conda_build import converted_recipe
from .copies import rewritten_copy
from .license import current_license
from .skip import is_skipped

log = logging.getLogger(__name__)

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
    (alone in its folder, or given) is converted to a recipe.yaml in a temp copy (`conda_build/`), and a recipe
    with deprecated SPDX license ids gets a temp copy with their successors (`license.py`)."""
    if path.is_dir():
        for name in RECIPE_NAMES:
            if (path / name).is_file():
                if not inside(path / name, path):
                    raise UsageError(f"{path / name} is a symlink out of {path}; give the folder it leads to instead")
                return _with_current_licenses((path / name).resolve())
        if (path / "meta.yaml").is_file():
            return converted_recipe(path)
        raise UsageError(f"no recipe.yaml in {path}; give a recipe.yaml or the folder that holds it")
    if not path.is_file():
        raise UsageError(f"recipe {path} not found; give a recipe.yaml or the folder that holds it")
    return converted_recipe(path) if path.name == "meta.yaml" else _with_current_licenses(path.resolve())


def _with_current_licenses(recipe: Path) -> Path:
    """`recipe`, or a copy of its folder whose recipe has deprecated SPDX license ids replaced."""
    text = _current_licenses(recipe)
    return recipe if text is None else rewritten_copy(recipe.parent, {recipe.name: text}) / recipe.name


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


def _current_licenses(recipe: Path) -> str | None:
    """The recipe's text with deprecated SPDX license ids replaced (`license.py`), warning for each; None when
    it has none (or is not YAML, which rattler-build then reports)."""
    try:
        data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    outputs = data.get("outputs")
    outputs = outputs if isinstance(outputs, list) else []
    abouts = [a for a in [data.get("about"), *(o.get("about") for o in outputs if isinstance(o, dict))] if a]
    changed = False
    for about in abouts:
        license = about.get("license") if isinstance(about, dict) else None
        if isinstance(about, dict) and isinstance(license, str) and current_license(license) != license:
            about["license"] = current_license(license)
            log.warning(
                "%s: license %r uses deprecated SPDX ids, which rattler-build refuses: building it as %r",
                recipe,
                license,
                about["license"],
            )
            changed = True
    return yaml.safe_dump(data, sort_keys=False) if changed else None


def load_recipe(recipe: Path) -> Any:
    """Parse a recipe file into rattler-build's stage-0 recipe, raising a located `BuildError`."""
    from rattler_build import Stage0Recipe

    recipe_limits.check_yaml(recipe, recipe_limits.read_text(recipe))
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


def render(
    stage0: Any, recipe: Path, variants: Sequence[Path], target_platform: str | None, experimental: bool = False
) -> list[Any]:
    """Render every variant of every output (rattler-build `RenderedVariant`s), raising a located `BuildError`."""
    from rattler_build import JinjaConfig, RenderConfig, VariantConfig
    from rattler_build.tool_config import PlatformConfig

    try:
        wanted = target_platform or experimental
        platform = PlatformConfig(target_platform=target_platform, experimental=experimental) if wanted else None
        files: list[str | Path] = [str(p) for p in variants]
        # A variant file's own selectors (`if: win`) speak of the target platform too, not of this host.
        if files and platform is not None:
            config = VariantConfig.from_files_with_context(files, JinjaConfig(platform=platform))
        else:
            config = VariantConfig.from_files(files) if files else VariantConfig()
        rendered = list(stage0.render(config, RenderConfig(platform=platform)))
    except Exception as exc:  # rattler-build raises its own exception types for every render error
        raise locate_error(recipe, exc) from exc
    return [v for v in rendered if not _skipped(stage0.to_dict(), v, target_platform)]


def _skipped(recipe: dict[str, Any], variant: Any, target_platform: str | None) -> bool:
    """Whether the recipe's (or this output's) `build.skip` drops `variant`, saying so in the log."""
    import rattler

    name = variant.recipe.package.name
    conditions = list((recipe.get("build") or {}).get("skip") or [])
    for output in recipe.get("outputs") or []:
        if ((output.get("package") or {}).get("name")) == name:
            conditions += list((output.get("build") or {}).get("skip") or [])
    values = dict(variant.variant)
    # A noarch output's conditions speak of the platform it is built on, as in rattler-build.
    own = str(values.get("target_platform") or "")
    platform = own if own and own != "noarch" else str(target_platform or rattler.Subdir.current())
    reason = is_skipped(conditions, platform, values)
    if reason is not None:
        log.warning("skipping %s for %s: its build.skip condition %r is true", name, platform, reason)
    return reason is not None


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


def rendered_sources(variants: Sequence[Any]) -> list[dict[str, Any]]:
    """The recipe's sources as rendered for the platform being built: conditions resolved, Jinja expanded."""
    found = [[source.to_dict() for source in v.recipe.sources] for v in variants]
    if any(f != found[0] for f in found[1:]):
        raise UsageError(
            "the recipe's variants use different sources, so an override source cannot replace one of them; "
            "build one variant at a time (a variant config with one value per key)"
        )
    return found[0] if found else []


#: Names a missing path source has when it is an archive, not a folder.
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".zst", ".7z", ".exe", ".msi")


def _is_folder_source(path: Path) -> bool:
    """Whether a path source is a folder: it is one, or it is missing (on a worker, a folder outside the
    attached recipe folder, e.g. ../../archive_files/plugin/win-64, is missing) and is not named as an archive."""
    if path.exists():
        return path.is_dir()
    return not path.name.lower().endswith(ARCHIVE_SUFFIXES)


def override_sources(
    sources: Sequence[dict[str, Any]], archives: Sequence[Path], folder: Path | None, recipe_dir: Path, platform: str
) -> list[dict[str, Any]]:
    """`sources` with the archive sources (a `url`, or a `path` naming a file) replaced by `archives` in order,
    and the folder sources (a `path` naming a folder) by `folder`, as the deadline-cloud-samples' overrides do.

    Where the source unpacks (`target_directory`), its patches and `file_name` are kept; the recipe's checksum
    is dropped, because an override archive is another file (`--override-source-sha256` checks it instead).
    An override with nothing to replace is refused rather than ignored.
    """
    remaining = list(archives)
    replaced_folder = False
    result = []
    for source in sources:
        entry = dict(source)
        is_folder = "path" in entry and _is_folder_source(recipe_dir / str(entry["path"]))
        if ("url" in entry or ("path" in entry and not is_folder)) and remaining:
            for key in ("url", "sha256", "md5"):
                entry.pop(key, None)
            entry["path"] = str(remaining.pop(0).resolve())
        elif is_folder and folder is not None:
            entry["path"] = str(folder.resolve())
            replaced_folder = True
        result.append(entry)
    if remaining:
        count = len(archives) - len(remaining)
        raise UsageError(
            f"{len(archives)} override source archive(s) given, but the recipe's source for {platform} has "
            f"{count} archive (url or file) source(s): give at most {count}"
        )
    if folder is not None and not replaced_folder:
        raise UsageError(
            f"an override source folder was given, but the recipe's source for {platform} has no folder (path) "
            "source to replace"
        )
    return result


def select_recipe(path: Path, build_tool: str | None) -> Path:
    """The recipe file `build_tool` builds in a recipe folder that may hold both kinds: `rattler-build` reads
    recipe.yaml, `conda-build` the meta.yaml (converted); None takes whichever is there, recipe.yaml first."""
    if build_tool not in (None, "rattler-build", "conda-build"):
        raise UsageError(f"BuildTool {build_tool!r}: use rattler-build or conda-build")
    if build_tool is None or not path.is_dir():
        return path
    if build_tool == "conda-build":
        if not (path / "meta.yaml").is_file():
            raise UsageError(f"BuildTool conda-build needs a meta.yaml in {path}; set BuildTool=rattler-build")
        return path / "meta.yaml"
    if not any((path / name).is_file() for name in RECIPE_NAMES) and (path / "meta.yaml").is_file():
        raise UsageError(f"{path} holds a conda-build meta.yaml and no recipe.yaml; set BuildTool=conda-build")
    return path


def _anchored(source: Any, recipe_dir: Path) -> Any:
    """Sources (a list, one source, or `if:`/`then:` items) with each relative `path` that leaves the recipe
    folder (`../../archive_files/x.zip`, as the samples write) made absolute: the staged copy of the folder
    lives elsewhere, so the relative path would lead nowhere. Paths inside the folder stay relative (copied)."""
    if isinstance(source, list):
        return [_anchored(s, recipe_dir) for s in source]
    if not isinstance(source, dict):
        return source
    anchored = {k: _anchored(v, recipe_dir) if k in ("then", "else") else v for k, v in source.items()}
    path = anchored.get("path")
    if isinstance(path, str) and re.match(r"^\.\.[/\\]", path):
        anchored["path"] = f"{recipe_dir.as_posix()}/{path}"
    return anchored


def staged_recipe(
    stage0: Any,
    recipe: Path,
    *,
    build_number: int | None,
    sources: list[dict[str, Any]] | None = None,
    package_name: str | None = None,
    exclude: Sequence[Path] = (),
) -> Path:
    """A copy of the recipe folder (in a new temp folder) whose recipe has the overrides applied.

    `sources` replaces the recipe's whole `source` section (the rendered one, see `override_sources`);
    `package_name` renames a single-output recipe's package. The user's recipe stays untouched; the copy keeps
    the scripts and files the recipe refers to through `RECIPE_DIR`. `exclude` names folders not to copy (an
    output folder inside the recipe folder).
    """
    skip = {p.resolve() for p in exclude}

    data: dict[str, Any] = stage0.to_dict()
    if sources is not None and any("source" in output for output in data.get("outputs") or []):
        raise UsageError(f"{recipe}: its outputs have their own sources; an override source replaces only one")
    if package_name is not None:
        if data.get("outputs"):
            raise UsageError(
                f"{recipe} has several outputs; an override package name renames a single-output recipe: "
                "rename the outputs in the recipe"
            )
        data["package"]["name"] = package_name
    if build_number is not None:
        for build in _builds(data):
            build["number"] = build_number
    if sources is not None:
        data["source"] = sources
    for holder in [data, *(data.get("outputs") or [])]:
        if "source" in holder:
            holder["source"] = _anchored(holder["source"], recipe.parent)
    staging = Path(tempfile.mkdtemp(prefix="condafarm-recipe-"))
    target = staging / recipe.parent.name
    copy_folder(recipe.parent, target, skip=lambda p: p.resolve() in skip or p.name in (".git", "__pycache__"))
    staged = write_file(target / recipe.name, yaml.safe_dump(data, sort_keys=False), overwrite=True)
    return staged
