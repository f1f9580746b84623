"""A recipe folder as `condafarm submit` reads it, with the deadline-cloud-samples' `deadline-cloud.yaml` beside it.

Every key the samples define is honoured or refused with one line saying what to do: a key that condafarm
silently skipped would build something other than what the recipe's author asked for.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError
from ..safe_files import inside
from .platforms import DEFAULT_PLATFORM, PLATFORM_HOSTS

CONFIG_NAME = "deadline-cloud.yaml"
BUILD_TOOLS = ("rattler-build", "conda-build")
_TOP_KEYS = ("buildTool", "condaPlatforms", "jobParameters")
_PLATFORM_KEYS = (
    "platform",
    "variant",
    "defaultSubmit",
    "buildTool",
    "sourceArchiveFilename",
    "sourceArchiveDirectory",
    "sourceDownloadInstructions",
    "additionalHostRequirements",
    "variantConfig",
    "condaBuildConfig",
)


def _build_tool(value: Any, where: str) -> str | None:
    if value is not None and value not in BUILD_TOOLS:
        raise UsageError(f"{where}: buildTool {value!r} is not one of {', '.join(BUILD_TOOLS)}")
    return None if value is None else str(value)


def _is_relative_below(text: str) -> bool:
    """Whether `text` names a place below a folder: relative, no `..`, on any OS."""
    posix = text.replace("\\", "/")
    return bool(text.strip()) and not posix.startswith("/") and ":" not in text and ".." not in posix.split("/")


def _kept_inside(path: Path, folder: Path) -> Path:
    """`path`, once it is known not to lead out of `folder` through a symlink: submit attaches (uploads) it, and a
    recipe's author could otherwise link a file of the submitter's, such as a key, into the job."""
    if not inside(path, folder):
        raise UsageError(f"{path} leads outside {folder} (a symlink); submit attaches only what lies there: copy it in")
    return path


def _refuse_unknown(item: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = [k for k in item if k not in known]
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; condafarm reads {', '.join(known)}: fix or remove it")


@dataclass(frozen=True)
class PlatformSpec:
    """One `condaPlatforms` entry of a recipe's deadline-cloud.yaml."""

    platform: str
    variant: str | None = None
    default_submit: bool = True
    build_tool: str | None = None
    source_archives: tuple[str, ...] = ()
    #: a folder of archive_files (a plug-in's extracted payload) that replaces the recipe's folder source
    source_directory: str | None = None
    download_instructions: str = ""
    extra_host_requirements: dict[str, Any] = field(default_factory=dict)
    variant_config: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"{self.platform}-{self.variant}" if self.variant else self.platform

    @property
    def os(self) -> str:
        return PLATFORM_HOSTS[self.platform][0]

    @property
    def cpu_arch(self) -> str:
        return PLATFORM_HOSTS[self.platform][1]

    @classmethod
    def from_yaml(cls, item: Any, where: str) -> PlatformSpec:
        if not isinstance(item, dict):
            raise UsageError(f"{where}: expected a mapping with platform, defaultSubmit, ...")
        _refuse_unknown(item, _PLATFORM_KEYS, where)
        platform = item.get("platform")
        if platform not in PLATFORM_HOSTS:
            raise UsageError(f"{where}: platform {platform!r} is not one of {', '.join(PLATFORM_HOSTS)}")
        archives = item.get("sourceArchiveFilename") or ()
        archives = (archives,) if isinstance(archives, str) else tuple(str(a) for a in archives)
        if len(archives) > 2:
            raise UsageError(f"{where}: sourceArchiveFilename names {len(archives)} archives; the build takes 1 or 2")
        outside = next((a for a in archives if not _is_relative_below(a)), None)
        if outside is not None:
            raise UsageError(
                f"{where}: sourceArchiveFilename {outside!r} must be a file under archive_files, written relative "
                "to it (e.g. tool-1.0-linux.tar.gz)"
            )
        directory = item.get("sourceArchiveDirectory")
        if directory is not None and (not isinstance(directory, str) or not _is_relative_below(directory)):
            raise UsageError(
                f"{where}: sourceArchiveDirectory {directory!r} must be a folder under archive_files, written "
                "relative to it (e.g. plugin-1.0/win-64)"
            )
        if "variantConfig" in item and "condaBuildConfig" in item:
            raise UsageError(f"{where}: give variantConfig or its older name condaBuildConfig, not both")
        variant_config = item.get("variantConfig", item.get("condaBuildConfig"))
        if variant_config is not None and not isinstance(variant_config, dict):
            raise UsageError(f"{where}: variantConfig must be a mapping of variant keys to lists of values")
        return cls(
            platform=platform,
            variant=str(item["variant"]) if item.get("variant") else None,
            default_submit=bool(item.get("defaultSubmit", False)),
            build_tool=_build_tool(item.get("buildTool"), where),
            source_archives=archives,
            source_directory=directory,
            download_instructions=str(item.get("sourceDownloadInstructions", "")),
            extra_host_requirements=dict(item.get("additionalHostRequirements") or {}),
            variant_config=variant_config,
        )


@dataclass(frozen=True)
class Recipe:
    """A recipe folder as `submit` sees it: where the recipe is, and its deadline-cloud.yaml if any."""

    recipe_dir: Path
    name: str
    config_path: Path | None
    platforms: tuple[PlatformSpec, ...]
    job_parameters: dict[str, str]
    build_tool: str | None = None

    @classmethod
    def load(cls, location: Path) -> Recipe:
        """Accept a recipe.yaml or meta.yaml, its folder, or the samples' layout (a folder with
        `deadline-cloud.yaml` and `recipe/`)."""
        location = location.expanduser().absolute()
        if location.is_file():
            location = location.parent
        candidates = (location, location / "recipe")
        recipe_dir = next((d for d in candidates if (d / "recipe.yaml").is_file()), None) or next(
            (d for d in candidates if (d / "meta.yaml").is_file()), None
        )
        if recipe_dir is None:
            raise UsageError(f"no recipe.yaml or meta.yaml in {location} or {location / 'recipe'}")
        config_path = next(
            (
                d / CONFIG_NAME
                for d in dict.fromkeys((location, recipe_dir, recipe_dir.parent))
                if (d / CONFIG_NAME).is_file()
            ),
            None,
        )
        name = (location if location != recipe_dir or recipe_dir.name != "recipe" else recipe_dir.parent).name
        if config_path is None:
            return cls(recipe_dir, name, None, (), {})
        data = yaml.safe_load(config_path.read_text()) or {}
        if not isinstance(data, dict):
            raise UsageError(f"{config_path}: expected a mapping with condaPlatforms and jobParameters")
        _refuse_unknown(data, _TOP_KEYS, str(config_path))
        platforms = tuple(
            PlatformSpec.from_yaml(item, f"{config_path} condaPlatforms[{i}]")
            for i, item in enumerate(data.get("condaPlatforms") or ())
        )
        names = [p.name for p in platforms]
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise UsageError(f"{config_path}: platform {twice} is listed twice; give each a different variant")
        parameters = {}
        for i, item in enumerate(data.get("jobParameters") or ()):
            if not isinstance(item, dict) or set(item) != {"name", "value"}:
                raise UsageError(f"{config_path} jobParameters[{i}]: expected a mapping with name and value")
            parameters[str(item["name"])] = str(item["value"])
        tool = _build_tool(data.get("buildTool"), str(config_path))
        return cls(recipe_dir, name, config_path, platforms, parameters, tool)

    def archive_folders(self) -> list[Path]:
        """Where source archives named in deadline-cloud.yaml are looked for, in order."""
        base = self.config_path.parent if self.config_path else self.recipe_dir
        return list(dict.fromkeys([base, base / "archive_files", base.parent / "archive_files"]))

    def build_tool_for(self, spec: PlatformSpec) -> str:
        """The platform's buildTool, else the file's, else what the folder holds (recipe.yaml first)."""
        chosen = spec.build_tool or self.build_tool
        if chosen:
            return chosen
        return "rattler-build" if (self.recipe_dir / "recipe.yaml").is_file() else "conda-build"

    def find_archives(self, spec: PlatformSpec) -> list[Path]:
        """The platform's source archives, found in `archive_folders`; a missing one says how to get it."""
        found = []
        folders = self.archive_folders()
        for filename in spec.source_archives:
            folder = next((f for f in folders if (f / filename).is_file()), None)
            if folder is None:
                how = f"; to get it: {spec.download_instructions}" if spec.download_instructions else ""
                raise UsageError(
                    f"source archive {filename} for {spec.name} is not in {' or '.join(str(f) for f in folders)}{how}"
                )
            found.append(_kept_inside(folder / filename, folder))
        return found

    def find_source_directory(self, spec: PlatformSpec) -> Path | None:
        """The platform's sourceArchiveDirectory, found in `archive_folders`; a missing one says how to get it."""
        if spec.source_directory is None:
            return None
        folders = self.archive_folders()
        folder = next((f for f in folders if (f / spec.source_directory).is_dir()), None)
        if folder is None:
            how = f"; to get it: {spec.download_instructions}" if spec.download_instructions else ""
            raise UsageError(
                f"source folder {spec.source_directory} for {spec.name} is not in "
                f"{' or '.join(str(f) for f in folders)}{how}"
            )
        return _kept_inside(folder / spec.source_directory, folder)

    def choose(
        self, oses: Iterable[str] | None, patterns: Iterable[str] | None, every: bool = False
    ) -> list[PlatformSpec]:
        """The platforms to submit: those matching `patterns` (globs, as the samples' `-p`); else every platform
        of `oses`; else all (`every`); else the recipe's `defaultSubmit` ones (Linux alone without the file)."""
        known = self.platforms or tuple(
            PlatformSpec(DEFAULT_PLATFORM[o], default_submit=True) for o in oses or ["linux"]
        )
        wanted = list(dict.fromkeys(patterns or ()))
        if wanted:
            chosen = []
            for pattern in wanted:
                matched = [p for p in known if fnmatch.fnmatchcase(p.name, pattern)]
                if not matched:
                    raise UsageError(
                        f"{self.name} does not build {pattern!r}; choose from {', '.join(p.name for p in known)}"
                    )
                chosen += [p for p in matched if p not in chosen]
            return chosen
        if oses:
            chosen = [p for p in known if p.os in set(oses)]
            if not chosen:
                raise UsageError(
                    f"{self.name} builds no platform for {', '.join(oses)}; its platforms: "
                    f"{', '.join(p.name for p in known)}"
                )
            return chosen
        if every:
            return list(known)
        chosen = [p for p in known if p.default_submit]
        if not chosen:
            raise UsageError(
                f"{self.config_path}: no platform has defaultSubmit: true; choose with --platform or --all-platforms"
            )
        return chosen
