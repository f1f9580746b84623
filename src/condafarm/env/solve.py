"""Solving a request with py-rattler, and finding a lockfile's exact packages in their channels.

Failures become one condafarm error naming what was asked for and the channels searched.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ..errors import AccessDenied, CondafarmError, NotFound, SolveError, StorageError
from .channels import Sources
from .integrity import check_local_files, download_failure, package_cache
from .lockfile import LockedPackage
from .spec import EnvSpec

T = TypeVar("T")

_PRIORITY = {"strict": "Strict", "flexible": "Flexible", "disabled": "Disabled"}


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _one_line(text: str) -> str:
    """py-rattler's multi-line explanation trees as one line."""
    text = text.replace("Cannot solve the request because of:", "")
    text = re.sub(r"[└├│─]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def explain(exc: Exception, sources: Sources, wanted: str) -> CondafarmError:
    """One actionable error for a py-rattler failure while fetching repodata or packages for `wanted`."""
    name = type(exc).__name__
    message = str(exc)
    for http_root, s3_root in sources.s3_roots:  # name S3 objects as the user named them
        message = message.replace(http_root, s3_root)
    if name == "SolverError":
        return SolveError(f"cannot solve {wanted} from {sources.describe()}: {_one_line(message)}")
    for s3_root, channel in sources.s3_channels.items():
        if s3_root.rstrip("/") in message:
            # Ask S3 through boto3 why: its errors name the missing permission or the bad credentials.
            from ..storage import open_storage

            if open_storage(channel).head("noarch/repodata.json") is None:
                return NotFound(
                    f"channel {channel.url} has no noarch/repodata.json; check the URL or run "
                    f"`condafarm index {channel.url}`"
                )
    if "403" in message or "401" in message:
        return AccessDenied(f"access denied while reading {wanted} from {sources.describe()}: {_one_line(message)}")
    missing = re.search(r"could not find subdir '([^']+)' in channel '([^']+)'", message)
    if missing:
        return NotFound(
            f"channel {missing.group(2).rstrip('/')} has no {missing.group(1)}/repodata.json (searched "
            f"{sources.describe()} for {wanted}); check the channel name or URL, or run `condafarm index` on it"
        )
    if "404" in message:
        return NotFound(f"not found while reading {wanted} from {sources.describe()}: {_one_line(message)}")
    return StorageError(f"could not read {wanted} from {sources.describe()}: {_one_line(message)}")


async def _solve(spec: EnvSpec, sources: Sources, cache: Path) -> list[Any]:
    import rattler

    return list(
        await rattler.solve(
            sources=sources.urls,
            specs=list(spec.packages),
            gateway=sources.gateway(cache),
            platforms=[rattler.Platform(spec.platform), rattler.Platform("noarch")],
            virtual_packages=rattler.VirtualPackage.detect(),
            channel_priority=getattr(rattler.ChannelPriority, _PRIORITY[spec.priority]),
        )
    )


def solve(spec: EnvSpec, sources: Sources, cache: Path) -> list[Any]:
    """The records (py-rattler RepoDataRecords) that satisfy `spec`, newest first as the solver prefers."""
    try:
        return run(_solve(spec, sources, cache))
    except CondafarmError:
        raise
    except Exception as exc:
        raise explain(exc, sources, " ".join(spec.packages)) from exc


async def _locked(packages: list[LockedPackage], sources: Sources, cache: Path) -> list[Any]:
    gateway = sources.gateway(cache)
    found = []
    for package in packages:
        name = package.name_version_build[0]
        results = await gateway.query(
            [sources.located(package.channel + "/")], [package.subdir], [name], recursive=False
        )
        match = [r for records in results for r in records if r.file_name == package.filename]
        if not match:
            raise NotFound(
                f"{package.url} from the lockfile is no longer in its channel's repodata; "
                "restore it or solve the environment again"
            )
        record = match[0]
        if record.sha256 is None or record.sha256.hex() != package.sha256:
            raise SolveError(
                f"{package.url} changed since the lockfile was written (sha256 differs); "
                "a lockfile only recreates the exact files it lists"
            )
        found.append(record)
    return found


def locked_records(packages: list[LockedPackage], sources: Sources, cache: Path) -> list[Any]:
    """The repodata records of exactly the files a lockfile lists, checked against their sha256."""
    try:
        return run(_locked(packages, sources, cache))
    except CondafarmError:
        raise
    except Exception as exc:
        raise explain(exc, sources, "the lockfile's packages") from exc


async def _install(records: list[Any], sources: Sources, target: Path, final: Path, cache: Path) -> None:
    import rattler

    await rattler.install(
        records,
        target_prefix=target,
        package_cache=package_cache(cache),
        client=sources.client,
        show_progress=False,
        alternative_target_prefix=final,
    )


def install(records: list[Any], sources: Sources, target: Path, final: Path, cache: Path) -> None:
    """Install `records` into `target`, with every path written into files set to `final` (where it will live).
    Every package's bytes are checked against its record's sha256 first (see `integrity`)."""
    check_local_files(records)
    try:
        run(_install(records, sources, target, final, cache))
    except CondafarmError:
        raise
    except Exception as exc:
        raise download_failure(str(exc), records, sources) or explain(exc, sources, "packages") from exc
