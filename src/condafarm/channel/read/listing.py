"""List a channel's packages from its repodata, optionally filtered by a conda match spec."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...conda.validate import check_record
from ...errors import PackageError, UsageError
from ...storage import Storage, open_storage
from ...storage.location import Channel
from ..commit import discover_subdirs, load_repodata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listed:
    subdir: str
    filename: str
    record: dict[str, Any]

    @property
    def sort_key(self) -> tuple[Any, ...]:
        from rattler import Version

        r = self.record
        return (r.get("name", ""), Version(str(r.get("version", "0"))), r.get("build_number", 0), self.filename)


def list_packages(
    channel: Channel | Storage, spec: str | None = None, subdirs: list[str] | None = None
) -> list[Listed]:
    """Packages in the channel's repodata, sorted by name, version and build number.

    `spec` is a conda match spec (`blender`, `blender 4.5.*`, `blender>=4`, `blender=4.5=*_1`), matched with
    py-rattler's own MatchSpec so the filter agrees with what a solver would pick.
    """
    storage = open_storage(channel)
    matches = spec_matcher(spec) if spec else None
    found: list[Listed] = []
    for subdir in subdirs or discover_subdirs(storage):
        repodata, _ = load_repodata(storage, subdir)
        for filename, record in repodata.records().items():
            try:
                check_record(record, None, filename)
            except PackageError as exc:
                log.warning("not listing %s/%s: %s (see `condafarm check`)", subdir, filename, exc)
                continue
            if matches is not None and not matches(subdir, record):
                continue
            found.append(Listed(subdir, filename, record))
    return sorted(found, key=lambda item: item.sort_key)


def spec_matcher(spec: str) -> Callable[[str, dict[str, Any]], bool]:
    """Whether a record of a subdir matches the conda match spec `spec`, as py-rattler's solver would judge it.

    Raises `UsageError` for a spec that does not parse. The record must be readable (`check_record`).
    """
    from rattler import BuildString, MatchSpec, PackageRecord

    try:
        match = MatchSpec(spec)
    except Exception as exc:  # py-rattler raises its own parse exception types
        raise UsageError(f"{spec!r} is not a valid match spec ({exc})") from exc

    def matches(subdir: str, record: dict[str, Any]) -> bool:
        candidate = PackageRecord(
            name=record["name"],
            version=str(record["version"]),
            build=BuildString(str(record["build"])),
            build_number=int(record.get("build_number", 0)),
            subdir=subdir,
        )
        return bool(match.matches(candidate))

    return matches
