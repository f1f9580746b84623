"""Convert a conda-build recipe (meta.yaml) to a rattler-build recipe (recipe.yaml), to review or to build.

No converter is installable from the package indexes here (conda-recipe-manager is not), so this is a small one
for what farm recipes use: `{% set %}` variables and `environ`, `{{ }}` expressions, `# [selector]` lines,
sources (url, path, git; checksums; folder; patches), build options and scripts (build.sh, bld.bat,
`script_env`), requirements and run_exports, tests (commands, imports, requires, run_test.*) and about.
Anything else (outputs:, Jinja `{% if %}`, load_setup_py_data()...) is refused, naming its line; what is
dropped because rattler-build needs no equivalent is said in notes, in the log and atop the written recipe.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...errors import BuildError, UsageError
from ...safe_files import inside, occupied, write_file
from .. import recipe_limits
from ..copies import ROOT_NAME, copy_folder, rewritten_copy
from .jinja import Refused, preprocess
from .sections import convert
from .tree import entries, parse, resolve

log = logging.getLogger(__name__)

META = "meta.yaml"
VARIANTS_IN = "conda_build_config.yaml"
DROPPED_VARIANT_KEYS = {"pin_run_as_build": "rattler-build pins run requirements through run_exports"}


@dataclass
class Conversion:
    """What `convert_recipe` wrote: the recipe, the variant config converted beside it (if any), and notes."""

    recipe: Path
    variants: Path | None
    notes: list[str]


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, multi-line strings as `|` blocks: a recipe to read."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _string)


def _dump(data: dict[str, Any], header: list[str]) -> str:
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return "".join(f"# {line}\n" for line in header) + "\n" + body


def meta_file(path: Path) -> Path:
    """The meta.yaml for `path`: the file itself, or the one in a folder."""
    meta = path / META if path.is_dir() else path
    if not meta.is_file():
        raise UsageError(f"no {META} in {path}; give a conda-build recipe folder or its {META}")
    if path.is_dir() and not inside(meta, path):
        raise UsageError(f"{meta} is a symlink out of {path}; give the folder it leads to instead")
    return meta.resolve()


def _located(file: Path, exc: Refused) -> BuildError:
    where = f"{file}:{exc.line}" if exc.line else str(file)
    return BuildError(f"{where}: {exc}; change that, or write a recipe.yaml beside it by hand (built instead)")


def _variant_keys(folder: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """conda_build_config.yaml beside the recipe as rattler-build variants (selectors as `if:`), and notes."""
    file = folder / VARIANTS_IN
    if not file.is_file():
        return None, []
    if not inside(file, folder):
        raise UsageError(f"{file} is a symlink out of {folder}; copy the file it leads to into the folder")
    try:
        root = parse(preprocess(recipe_limits.read_text(file)))
    except Refused as exc:
        raise _located(file, exc) from None
    variants: dict[str, Any] = {}
    notes: list[str] = []
    for key, entry in entries([(None, root)]).items():
        if key in DROPPED_VARIANT_KEYS:
            notes.append(f"{VARIANTS_IN}:{entry.line}: {key} dropped: {DROPPED_VARIANT_KEYS[key]}")
            continue
        try:
            variants[key] = resolve(entry.alts, listy=key != "zip_keys")
        except Refused as exc:
            raise _located(file, exc) from None
    return variants, notes


def _rebaser(folder: Path, out: Path) -> Any:
    """Paths in meta.yaml are relative to its folder; in the written recipe, to `out` (a copy of that folder)."""

    def rebase(path: str) -> str:
        if "${{" in path or Path(path).is_absolute() or out == folder:
            return path
        target = (folder / path).resolve()
        # inside the folder, the copy has the same file at the same relative place
        return path if target.is_relative_to(folder) else target.as_posix()

    return rebase


def _convert(meta: Path, out: Path) -> tuple[str, str | None, list[str]]:
    """recipe.yaml's text, variants.yaml's text (None without conda_build_config.yaml) and the notes."""
    folder = meta.parent
    variants, notes = _variant_keys(folder)
    if variants is not None and any((folder / n).is_file() for n in ("variants.yaml", "variants.yml")):
        notes.append(f"{VARIANTS_IN} not converted: the folder already has a variants.yaml")
        variants = None
    files: Collection[str] = {p.name for p in folder.iterdir() if p.is_file()}
    try:
        template = preprocess(recipe_limits.read_text(meta), variant_keys=list(variants or ()))
        converted = convert(parse(template), template.context, files, _rebaser(folder, out))
    except Refused as exc:
        raise _located(meta, exc) from None
    notes = converted.notes + notes
    header = [f"Converted by condafarm from the conda-build recipe {meta}; review it, then build the folder."]
    recipe = _dump(converted.recipe, header + notes)
    return recipe, _dump(variants, header) if variants else None, notes


def convert_recipe(source: Path, out_dir: Path | None = None, *, force: bool = False) -> Conversion:
    """Write the rattler-build recipe for the conda-build recipe `source` (its folder or meta.yaml).

    The recipe.yaml goes beside the meta.yaml, or into `out_dir` together with a copy of the recipe folder's
    files (so the scripts and patches it names are there); a conda_build_config.yaml becomes a variants.yaml.
    An existing recipe.yaml or variants.yaml is replaced only with `force` (`UsageError` otherwise); a construct
    that cannot be converted raises `BuildError` naming the file and line.
    """
    meta = meta_file(source)
    out = Path(os.path.abspath(out_dir)) if out_dir is not None else meta.parent
    recipe_text, variants_text, notes = _convert(meta, out.resolve())
    targets = [out / "recipe.yaml", *([out / "variants.yaml"] if variants_text else [])]
    existing = [t for t in targets if occupied(t)]  # a symlink, even a dangling one, is something there
    if existing and not force:
        raise UsageError(f"{existing[0]} exists; give another --out folder, or --force to replace it")
    if out.resolve() != meta.parent:
        copy_folder(meta.parent, out, overwrite=force)
    write_file(targets[0], recipe_text, overwrite=True)  # replaces a symlink there, never writes through it
    if variants_text:
        write_file(targets[1], variants_text, overwrite=True)
    return Conversion(targets[0], targets[1] if variants_text else None, notes)


def converted_recipe(source: Path) -> Path:
    """The recipe.yaml `condafarm build` uses for a conda-build recipe: a converted copy of its folder.

    The copy is made by `copies.rewritten_copy`: reused while the recipe is unchanged, never the user's folder.
    """
    meta = meta_file(source)
    recipe_text, variants_text, notes = _convert(meta, Path(tempfile.gettempdir()) / ROOT_NAME)
    written = {"recipe.yaml": recipe_text, **({"variants.yaml": variants_text} if variants_text else {})}
    recipe = rewritten_copy(meta.parent, written) / "recipe.yaml"
    log.warning("%s is a conda-build recipe: building %s, converted from it", meta, recipe)
    for note in notes:
        log.warning("converted recipe: %s", note)
    return recipe


__all__ = ["Conversion", "convert_recipe", "converted_recipe", "meta_file"]
