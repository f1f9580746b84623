"""pixi's `pixi.lock`, written and read with py-rattler's lockfile API (`rattler.LockFile`, the code pixi itself
uses): one environment, `default`, with the environment's records for every platform."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...safe_files import write_file
from .lockfile import LockedPackage, Origin, checked_package

ENVIRONMENT = "default"
_HINT = "write pixi.lock files with `condafarm env export --pixi-lock` or pixi"


def write_pixi_lock(origin: Origin, records: Mapping[str, Sequence[Any]], path: Path) -> None:
    """Write pixi.lock for `records` (platform -> py-rattler RepoDataRecords with canonical URLs) to `path`.
    pixi.lock keeps the channels; the request and priority, which it has no field for, go in comment lines."""
    import rattler

    platforms = {name: rattler.LockPlatform(name) for name in sorted(records)}
    lock = rattler.LockFile(list(platforms.values()))
    lock.set_channels(ENVIRONMENT, [rattler.LockChannel(channel) for channel in origin.channels])
    for name, platform in platforms.items():
        for record in sorted(records[name], key=lambda r: r.name.normalized):
            lock.add_conda_package(ENVIRONMENT, platform, record)
    with tempfile.TemporaryDirectory(prefix="condafarm-pixi-") as private:  # py-rattler writes only to a path
        made = Path(private, "pixi.lock")
        lock.to_path(made)
        header = ["# pixi lockfile written by condafarm", *origin.comments()]
        write_file(path, "\n".join(header) + "\n" + made.read_text(encoding="utf-8"), overwrite=True)


def is_pixi_lock(document: Any) -> bool:
    return isinstance(document, dict) and "environments" in document


def read_pixi_lock(path: Path, source: str) -> dict[str, list[LockedPackage]]:
    """platform -> the conda packages `path` locks in its default environment (or its only one)."""
    import rattler

    try:
        lock = rattler.LockFile.from_path(path)
        environments = dict(lock.environments())
        environment = environments.get(ENVIRONMENT) or (
            next(iter(environments.values())) if len(environments) == 1 else None
        )
        if environment is None:
            raise UsageError(f"{source} has no `{ENVIRONMENT}` environment (it has {', '.join(environments)}); {_HINT}")
        by_platform = environment.conda_repodata_records()
    except UsageError:
        raise
    except Exception as exc:  # py-rattler's parse errors have no common type
        raise UsageError(f"{source} is not a pixi.lock py-rattler can read ({exc}); {_HINT}") from exc
    return {
        platform: [
            checked_package(
                str(record.url), record.sha256.hex() if record.sha256 else None, f"{source} {record.file_name}", _HINT
            )
            for record in records
        ]
        for platform, records in by_platform.items()
    }
