"""Which lockfile a file is, and the exact packages it locks for this host: conda's explicit lockfile,
conda-lock's conda-lock.yml or pixi's pixi.lock. `env create --lockfile` and `env enter --lockfile` take any."""

from __future__ import annotations

from pathlib import Path

from ...errors import UsageError
from .conda_lock import conda_lock_platforms, is_conda_lock, read_conda_lock
from .lockfile import LockedPackage, read_explicit_lockfile
from .pixi_lock import is_pixi_lock, read_pixi_lock
from .spec import current_platform


def read_lockfile(path: Path) -> tuple[str | None, list[LockedPackage]]:
    """The platform and packages `path` locks: for a multi-platform file, this host's platform (or the only one
    it has)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read lockfile {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    source = str(path)
    if "@EXPLICIT" in (line.strip() for line in text.splitlines()):
        return read_explicit_lockfile(text, source)
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        document = None
    if is_conda_lock(document):
        platform = _choose(conda_lock_platforms(document), source)
        packages = read_conda_lock(document, source, platform)
    elif is_pixi_lock(document):
        by_platform = read_pixi_lock(path, source)
        platform = _choose(sorted(by_platform), source)
        packages = by_platform[platform]
    else:  # its error says what an explicit lockfile looks like
        return read_explicit_lockfile(text, source)
    if not packages:
        raise UsageError(f"{source} locks no conda packages for {platform}; export it with `condafarm env export`")
    return platform, packages


def _choose(platforms: list[str], source: str) -> str:
    """This host's platform if the lockfile has it, else the lockfile's only platform."""
    here = current_platform()
    if here in platforms:
        return here
    if len(platforms) == 1:
        return platforms[0]
    raise UsageError(
        f"{source} locks {', '.join(platforms) or 'no platform'}, not this host's {here}; "
        f"export it again with `condafarm env export --platform {here}`"
    )
