"""`env export`: an environment condafarm created, as a pinned YAML and an explicit lockfile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .create import MANIFEST, read_manifest
from .lockfile import explicit_lockfile, pinned_yaml


@dataclass(frozen=True)
class Exported:
    yaml: str
    lockfile: str


def export_environment(prefix: Path, name: str | None = None) -> Exported:
    """Pinned YAML (`name=version=build` for every package, the channels it came from) and the explicit
    lockfile (URL and sha256 of every file) of the environment at `prefix`."""
    manifest = read_manifest(prefix)
    if manifest is None:
        raise UsageError(f"{prefix} is not an environment condafarm created (no {MANIFEST.as_posix()})")
    return Exported(
        yaml=pinned_yaml(manifest.locked, manifest.channels, name or prefix.name),
        lockfile=explicit_lockfile(manifest.locked, manifest.platform),
    )
