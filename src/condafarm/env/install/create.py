"""Creating an environment at a path, atomically: packages are installed into a hidden sibling folder (with
every embedded path already set to the final one) and renamed into place, so a process killed half-way leaves
only a `.creating-*` folder that nothing reuses and the next creation removes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import AlreadyExists, UsageError
from ...storage.location import S3Options
from ..channels import Sources, offline, resolve_channels
from ..request import EnvSpec, LockedPackage, Origin, current_platform, read_lockfile
from ..resolve import check_satisfies, confine, install, locked_records, require_sha256, solve

log = logging.getLogger(__name__)

#: Written last inside a finished environment: what it was made from and exactly what it holds.
MANIFEST = Path("conda-meta") / "condafarm-env.json"
CREATING = ".creating-"


@dataclass(frozen=True)
class Manifest:
    """What an environment was made from (request or lockfile) and the exact package files it holds."""

    packages: tuple[str, ...]
    channels: tuple[str, ...]
    priority: str
    platform: str
    locked: tuple[LockedPackage, ...]
    created: float = field(default_factory=time.time)

    @property
    def origin(self) -> Origin:
        return Origin(self.packages, self.channels, self.priority)

    def to_json(self) -> str:
        data = {
            "packages": list(self.packages),
            "channels": list(self.channels),
            "priority": self.priority,
            "platform": self.platform,
            "created": self.created,
            "locked": [{"url": p.url, "sha256": p.sha256} for p in self.locked],
        }
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(
            packages=tuple(data["packages"]),
            channels=tuple(data["channels"]),
            priority=data["priority"],
            platform=data["platform"],
            locked=tuple(LockedPackage(p["url"], p["sha256"]) for p in data["locked"]),
            created=data["created"],
        )


def read_manifest(prefix: Path) -> Manifest | None:
    """The manifest of a complete condafarm environment, or None (not one, or never finished)."""
    try:
        return Manifest.from_json((prefix / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError):
        return None


@dataclass
class Plan:
    """Records to install, the sources that serve them, and the manifest the environment will carry."""

    records: list[Any]
    sources: Sources
    manifest: Manifest


def plan(
    spec: EnvSpec | None,
    lockfile: Path | None,
    cache: Path,
    s3: S3Options | None = None,
    log_to: Any = None,
    *,
    job_record: bool = False,
) -> Plan:
    """Solve `spec`, or look up exactly the files `lockfile` lists; `cache` holds repodata.

    With `job_record`, `lockfile` is a job's record, which any job on the queue may have written: its files
    are looked up in `spec`'s channels only, and must make an environment for `spec` (see `recorded`).
    """
    say = log_to or log.info
    if lockfile is not None:
        platform, packages = read_lockfile(lockfile)
        recorded_for = spec if job_record else None
        if job_record and recorded_for is None:
            raise ValueError("a job record is checked against the request it was recorded for")
        if recorded_for is not None:
            channels, platform = recorded_for.channels, recorded_for.platform or current_platform()
            sources = _sources(channels, s3)
            packages = confine(packages, sources, platform)
        else:
            channels = tuple(dict.fromkeys(p.channel for p in packages))
            sources = _sources(channels, s3)
        say(f"recreating {len(packages)} package(s) exactly as {lockfile} lists them")
        records = locked_records(packages, sources, cache)
        if recorded_for is not None:
            check_satisfies(records, recorded_for)
        request = spec.packages if spec else tuple("=".join(p.name_version_build) for p in packages)
        priority, target = (spec.priority if spec else "strict"), platform or current_platform()
    elif spec is not None:
        sources = _sources(spec.channels, s3)
        say(f"solving {' '.join(spec.packages)} from {sources.describe()} ({spec.platform}, {spec.priority})")
        records = solve(spec, sources, cache)
        channels, request, priority, target = spec.channels, spec.packages, spec.priority, spec.platform
    else:
        raise UsageError("give packages (--packages) or a lockfile (--lockfile)")
    require_sha256(records, sources)
    gate = offline.active()
    if gate is not None:
        gate.check_records(str(r.url) for r in records)
    locked = tuple(
        sorted((LockedPackage(sources.canonical(str(r.url)), r.sha256.hex()) for r in records), key=lambda p: p.url)
    )
    return Plan(records, sources, Manifest(request, channels, priority, target, locked))


def _sources(channels: tuple[str, ...], s3: S3Options | None) -> Sources:
    """The channels' sources; an `--offline` gate lets requests under them through, and only those."""
    sources = resolve_channels(channels, s3)
    gate = offline.active()
    if gate is not None:
        gate.allow(sources.urls)
    return sources


def build(prefix: Path, plan: Plan, package_cache: Path, *, replace: bool = False) -> None:
    """Install `plan` at `prefix`: all of it appears at once, or nothing does. With `replace`, an environment
    already at `prefix` is swapped out only once the new one is complete."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    staging = aside(prefix)
    try:
        install(plan.records, plan.sources, staging, prefix, package_cache)
        (staging / MANIFEST).write_text(plan.manifest.to_json(), encoding="utf-8")
        if replace and prefix.exists():
            old = aside(prefix, "replaced")
            os.rename(prefix, old)
            os.rename(staging, prefix)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, prefix)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def aside(prefix: Path, why: str = "") -> Path:
    """A hidden sibling of `prefix` for its creation (or, `why`, an old environment on its way out):
    `.creating-NAME-HEX[-WHY]`. HEX, 8 hex digits, ends NAME: `.creating-shot-010-fx-HEX` is never shot-010's."""
    return prefix.parent / f"{CREATING}{prefix.name}-{secrets.token_hex(4)}{'-' + why if why else ''}"


def remove_stale_staging(folder: Path, name: str = "") -> None:
    """Remove the `aside` folders of `name` that killed creations left in `folder` (the caller holds the lock
    of `name`, not of its siblings: another prefix's creation in progress is not touched), or every
    `.creating-*` folder there without a `name`."""
    mine = re.compile(re.escape(f"{CREATING}{name}-") + r"[0-9a-f]{8}(-[a-z]+)?")
    for stale in folder.glob(f"{CREATING}{name}-*" if name else f"{CREATING}*"):
        if name and not mine.fullmatch(stale.name):
            continue
        log.info("removing %s, left by a creation that did not finish", stale)
        shutil.rmtree(stale, ignore_errors=True)


def create_environment(
    prefix: Path,
    spec: EnvSpec | None = None,
    *,
    lockfile: Path | None = None,
    cache_dir: Path,
    s3: S3Options | None = None,
    force: bool = False,
    job_record: bool = False,
    offline_only: bool = False,
) -> Manifest:
    """Create an environment at `prefix` from a request or a lockfile (with `job_record`, a job's record checked
    against `spec`; see `plan`). With `force`, an existing environment there is replaced (the new one is
    complete before the old one is moved away). With `offline_only`, any request outside the channels fails it
    with `OfflineViolation` (see `offline.py`)."""
    from .hostlock import HostLock

    prefix = prefix.absolute()
    if prefix.exists() and not force:
        raise AlreadyExists(f"{prefix} already exists; choose another prefix or pass --force to replace it")
    with HostLock(prefix.parent / f".{prefix.name}.condafarm-lock"), offline.guarded(offline_only):
        remove_stale_staging(prefix.parent, prefix.name)
        planned = plan(spec, lockfile, cache_dir / "repodata", s3, job_record=job_record)
        build(prefix, planned, cache_dir / "pkgs", replace=force)
    return planned.manifest
