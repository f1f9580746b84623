"""Render build jobs before submitting them, as their workers would: for the job's platform and build tool, with
its variant config, override sources and options, so a recipe that would fail a second into the job fails here.

Also decides which platforms a recipe without deadline-cloud.yaml builds: those where it renders a package that
does something (not skipped by build.skip, and with a build script there if it has one anywhere).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BuildError, CondafarmError, UsageError
from .platforms import DEFAULT_PLATFORM

#: The build scripts rattler-build runs when a recipe names none, by platform family.
DEFAULT_SCRIPTS = {"win": ("build.bat",), "unix": ("build.sh",)}


@dataclass
class JobCheck:
    """What one job's recipe renders to: the packages it would build (none: every variant is skipped), or why
    the job would fail."""

    packages: list[str] = field(default_factory=list)
    error: str | None = None


def check_job(parameters: Mapping[str, str], files: Mapping[str, str]) -> JobCheck:
    """Render the job whose bundle parameters are `parameters` (and extra bundle `files`, e.g. its variant
    config) as the worker would, without building, publishing or reading the destination."""
    from ..build import build_recipe, parse_tool_args

    get = parameters.get
    try:
        with tempfile.TemporaryDirectory(prefix="condafarm-check-") as scratch:
            variant = get("VariantConfigFile") or ""
            if variant in files:
                (Path(scratch) / variant).write_text(files[variant], encoding="utf-8")
                variant = str(Path(scratch) / variant)
            archives = [Path(a) for a in (get("OverrideSourceArchive1"), get("OverrideSourceArchive2")) if a]
            report = build_recipe(
                Path(parameters["RecipeDir"]),
                None,
                dry_run=True,
                publish=False,
                target_platform=get("CondaPlatform") or None,
                variant_config=[Path(variant)] if variant else [],
                override_source=archives,
                override_source_sha256=get("OverrideSourceSha256") or None,
                override_source_dir=Path(get("OverrideSourceDir") or "") if get("OverrideSourceDir") else None,
                package_name=get("OverridePackageName") or None,
                build_tool=get("BuildTool") or None,
                options=parse_tool_args(get("ExtraBuildToolArgs") or "", fast_build=get("EnableFastBuild") == "true"),
            )
    except CondafarmError as exc:
        return JobCheck(error=str(exc))
    return JobCheck(packages=[f"{o.subdir}/{o.filename}" for o in report.outputs])


def refuse_failures(names: list[str], checks: list[JobCheck]) -> None:
    """Raise `BuildError` if any job would fail (after each was reported), naming the first."""
    failed = [(n, c.error) for n, c in zip(names, checks, strict=True) if c.error]
    if failed:
        name, error = failed[0]
        raise BuildError(
            f"{len(failed)} of {len(checks)} job(s) would fail, {name} first: {error}; nothing was submitted"
        )


def _renders(recipe_dir: Path, build_tool: str, platform: str) -> tuple[list[Any], bool]:
    """The variants the recipe renders for `platform` (less skipped ones), and whether it has a build script
    there (its own, or a default script file in the recipe folder)."""
    from ..build.recipe import find_recipe, load_recipe, render, select_recipe, variant_files

    recipe = find_recipe(select_recipe(recipe_dir, build_tool))
    variants = render(load_recipe(recipe), recipe, variant_files(recipe, []), platform)
    family = "win" if platform.startswith("win-") else "unix"
    default = any((recipe.parent / name).is_file() for name in DEFAULT_SCRIPTS[family])
    scripted = default or any((v.recipe.to_dict().get("build") or {}).get("script") for v in variants)
    return variants, scripted


def recipe_platforms(recipe_dir: Path, build_tool: str) -> list[str]:
    """The platforms (one per OS) a recipe without deadline-cloud.yaml builds: where it is not skipped, and has
    a build script if it has one on any platform (a Windows-only recipe has bld.bat alone). A recipe that builds
    everywhere, or is noarch, is built on linux-64 alone, as before. `UsageError` if it builds nowhere."""
    rendered = {p: _renders(recipe_dir, build_tool, p) for p in DEFAULT_PLATFORM.values()}
    built = {p: scripted for p, (variants, scripted) in rendered.items() if variants}
    if any(built.values()):
        built = {p: s for p, s in built.items() if s}
    if not built:
        raise UsageError(
            f"{recipe_dir} builds on none of {', '.join(rendered)} (build.skip skips every one); fix build.skip, "
            "or give --platform"
        )
    noarch = all(v.recipe.build.noarch for variants, _ in rendered.values() for v in variants)
    unrestricted = len(built) == len(rendered)
    return ["linux-64"] if (noarch or unrestricted) and "linux-64" in built else list(built)
