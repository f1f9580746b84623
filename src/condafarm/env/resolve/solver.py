"""Solving a request with py-rattler, and finding a lockfile's exact packages in their channels.

Failures become one condafarm error naming what was asked for and the channels searched. py-rattler's HTTP
client has a total-time limit only, which would cut large downloads, so every call runs under a watchdog
instead: repodata fetches (and the solve) get `CONDAFARM_DEADLINE`, downloads fail once no byte arrived for
`CONDAFARM_READ_TIMEOUT`, and both say what they wait for after a few seconds (see `storage/timeouts.py`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ...errors import AccessDenied, CondafarmError, NotFound, SolveError, StorageError
from ..channels import Sources, YankedFiles
from ..request import EnvSpec, LockedPackage, match_spec
from .integrity import check_local_files, download_failure, package_cache

log = logging.getLogger(__name__)

T = TypeVar("T")

_PRIORITY = {"strict": "Strict", "flexible": "Flexible", "disabled": "Disabled"}
#: An HTTP status as py-rattler (reqwest) reports it: `HTTP status client error (403 Forbidden) for url (...)`.
_STATUS = re.compile(r"\((\d{3}) [A-Za-z ]+\) for url")


class Downloads:
    """What py-rattler is downloading and when a byte last arrived, from its installer callbacks."""

    def __init__(self, urls: dict[str, str]) -> None:
        self._urls = urls  # package name -> URL
        self._names: dict[int, str] = {}
        self._active: dict[int, str] = {}
        self._lock = threading.Lock()
        self.last = time.monotonic()

    def populating(self, name: str) -> int:
        with self._lock:
            token = len(self._names)
            self._names[token] = name
            return token

    def started(self, entry: int) -> int:
        with self._lock:
            self._active[entry] = self._names.get(entry, "")
            self.last = time.monotonic()
            return entry

    def progressed(self) -> None:
        self.last = time.monotonic()

    def finished(self, entry: int) -> None:
        with self._lock:
            self._active.pop(entry, None)
            self.last = time.monotonic()

    def stalled(self, now: float) -> float:
        """Seconds since the last byte while a download is under way; 0 when none is."""
        with self._lock:
            return now - self.last if self._active else 0.0

    def describe(self) -> str:
        with self._lock:
            names = sorted(set(self._active.values()))
        return ", ".join(self._urls.get(name, name) for name in names)

    def reporter(self) -> Any:
        """A py-rattler `InstallerReporter` feeding this."""
        from rattler.install import InstallerReporter

        downloads = self

        class Reporter(InstallerReporter):
            def on_populate_cache_start(self, operation: int, package_name: str) -> int:
                return downloads.populating(package_name)

            def on_download_start(self, cache_entry: int) -> int:
                return downloads.started(cache_entry)

            def on_download_progress(self, download_idx: int, progress: int, total: int | None) -> None:
                downloads.progressed()

            def on_download_completed(self, download_idx: int) -> None:
                downloads.finished(download_idx)

        # The protocol's other callbacks are no-ops with empty bodies, which mypy takes for abstract methods.
        return Reporter()  # type: ignore[abstract]


async def _watched(coroutine: Coroutine[Any, Any, T], waiting_for: str | Downloads) -> T:
    from ...storage.timeouts import timeouts

    limits = timeouts()
    task = asyncio.ensure_future(coroutine)
    started = time.monotonic()
    downloads = waiting_for if isinstance(waiting_for, Downloads) else None
    limit = limits.deadline if downloads is None else limits.read
    warn_after = limits.warn_after(limit)
    warned = False
    while True:
        done, _ = await asyncio.wait({task}, timeout=min(1.0, warn_after / 4))
        if done:
            return task.result()
        now = time.monotonic()
        if downloads is None:
            waited, what = now - started, str(waiting_for)
            failure = f"no answer from {what} within {limit:g} s (CONDAFARM_DEADLINE)"
        else:
            waited, what = downloads.stalled(now), downloads.describe()
            failure = f"no bytes from {what} for {limit:g} s (CONDAFARM_READ_TIMEOUT)"
        if waited >= limit:
            # py-rattler's own requests are left to end with the process (the CLI exits right after).
            task.cancel()
            raise StorageError(f"{failure}; check the channel URLs, --endpoint-url and the network")
        if waited >= warn_after and not warned:
            log.warning("waiting for %s...", what)
        warned = waited >= warn_after


def run(coroutine: Coroutine[Any, Any, T], waiting_for: str | Downloads) -> T:
    """Run a py-rattler call under the watchdog: a fetch of what `waiting_for` names ends at the deadline; an
    install (`waiting_for` its `Downloads`) only once a download stalls."""
    return asyncio.run(_watched(coroutine, waiting_for))


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
            from ...storage import open_storage

            if open_storage(channel).head("noarch/repodata.json") is None:
                return NotFound(
                    f"channel {channel.url} has no noarch/repodata.json; check the URL or run "
                    f"`condafarm index {channel.url}`"
                )
    status = {int(code) for code in _STATUS.findall(message)}
    if status & {401, 403}:
        return AccessDenied(f"access denied while reading {wanted} from {sources.describe()}: {_one_line(message)}")
    missing = re.search(r"could not find subdir '([^']+)' in channel '([^']+)'", message)
    if missing:
        return NotFound(
            f"channel {missing.group(2).rstrip('/')} has no {missing.group(1)}/repodata.json (searched "
            f"{sources.describe()} for {wanted}); check the channel name or URL, or run `condafarm index` on it"
        )
    if 404 in status:
        return NotFound(f"not found while reading {wanted} from {sources.describe()}: {_one_line(message)}")
    return StorageError(f"could not read {wanted} from {sources.describe()}: {_one_line(message)}")


#: The virtual packages assumed for a platform other than this host's, as conda-lock assumes them by default.
_FOREIGN_VIRTUAL = {
    "linux": {"__unix": "0", "__linux": "5.10", "__glibc": "2.17"},
    "osx": {"__unix": "0", "__osx": "10.15"},
    "osx-arm64": {"__unix": "0", "__osx": "11.0"},
    "win": {"__win": "0"},
}


def virtual_packages(platform: str) -> list[Any]:
    """What the solver takes as the target system: this host's own virtual packages for its platform; for
    another platform (locking win-64 on a Linux host), conda-lock's defaults, never this host's `__glibc`."""
    import rattler

    from ..request import current_platform

    if platform in (current_platform(), "noarch"):
        return list(rattler.VirtualPackage.detect())
    family = _FOREIGN_VIRTUAL.get(platform) or _FOREIGN_VIRTUAL.get(platform.split("-")[0], {})
    return [
        rattler.GenericVirtualPackage(rattler.PackageName(name), rattler.Version(version), rattler.BuildString("0"))
        for name, version in family.items()
    ]


def _revalidated(attempt: Callable[[bool], Coroutine[Any, Any, T]], waiting_for: str) -> T:
    """Run `attempt(fresh=False)`, and once more with `fresh` metadata when py-rattler refused the answer to its
    revalidation of a cached file: a `304 Not Modified` that names another ETag than its copy. Stores whose
    Last-Modified counts whole seconds (moto) answer so when the file changed within the second of the cached
    copy, as they judge If-Modified-Since before If-None-Match (S3 and RFC 9110 judge If-None-Match alone)."""
    try:
        return run(attempt(False), waiting_for)
    except CondafarmError:
        raise
    except Exception as exc:
        if "304 Not Modified" not in str(exc):
            raise
        log.info("the store answered a revalidation with 304 for a changed file; fetching the metadata anew")
    return run(attempt(True), waiting_for)


async def _solve(spec: EnvSpec, sources: Sources, cache: Path, fresh: bool = False) -> list[Any]:
    import rattler

    return list(
        await rattler.solve(
            sources=sources.solvable(),
            specs=[match_spec(p) for p in spec.packages],
            gateway=sources.gateway(cache, fresh=fresh),
            platforms=[rattler.Platform(spec.platform), rattler.Platform("noarch")],
            virtual_packages=virtual_packages(spec.platform),
            channel_priority=getattr(rattler.ChannelPriority, _PRIORITY[spec.priority]),
        )
    )


def solve(spec: EnvSpec, sources: Sources, cache: Path) -> list[Any]:
    """The records (py-rattler RepoDataRecords) that satisfy `spec`, newest first as the solver prefers."""
    try:
        return _revalidated(
            lambda fresh: _solve(spec, sources, cache, fresh), _fetching(sources, " ".join(spec.packages))
        )
    except CondafarmError:
        raise
    except Exception as exc:
        raise sources.failure() or explain(exc, sources, " ".join(spec.packages)) from exc


async def _locked(packages: list[LockedPackage], sources: Sources, cache: Path, fresh: bool = False) -> list[Any]:
    gateway = sources.gateway(cache, fresh=fresh)
    yanked = YankedFiles(sources)
    found = []
    for package in packages:
        name = package.name_version_build[0]
        results = await gateway.query(
            [sources.source(package.channel + "/")], [package.subdir], [name], recursive=False
        )
        match = [r for records in results for r in records if r.file_name == package.filename]
        if not match:  # a yanked file still installs by exact name and sha256
            match = [await asyncio.to_thread(yanked.record, package)]
        record = match[0]
        if record is None:
            raise NotFound(
                f"{package.url} from the lockfile is no longer in its channel's repodata; "
                "restore it or solve the environment again"
            )
        if record.sha256 is None or record.sha256.hex() != package.sha256:
            raise package.changed()
        found.append(record)
    return found


def locked_records(packages: list[LockedPackage], sources: Sources, cache: Path) -> list[Any]:
    """The repodata records of exactly the files a lockfile lists, checked against their sha256."""
    try:
        return _revalidated(
            lambda fresh: _locked(packages, sources, cache, fresh), _fetching(sources, "the lockfile's packages")
        )
    except CondafarmError:
        raise
    except Exception as exc:
        raise sources.failure() or explain(exc, sources, "the lockfile's packages") from exc


def _fetching(sources: Sources, wanted: str) -> str:
    return f"{', '.join(sources.urls)} (repodata for {wanted})"


async def _install(
    records: list[Any], sources: Sources, target: Path, final: Path, cache: Path, downloads: Downloads
) -> None:
    import rattler

    await rattler.install(
        records,
        target_prefix=target,
        package_cache=package_cache(cache),
        client=sources.client,
        show_progress=False,
        reporter=downloads.reporter(),
        alternative_target_prefix=final,
    )


def install(records: list[Any], sources: Sources, target: Path, final: Path, cache: Path) -> None:
    """Install `records` into `target`, with every path written into files set to `final` (where it will live).
    Every package's bytes are checked against its record's sha256 first (see `integrity`)."""
    check_local_files(records)
    try:
        downloads = Downloads({record.name.normalized: str(record.url) for record in records})
        run(_install(records, sources, target, final, cache, downloads), downloads)
    except CondafarmError:
        raise
    except Exception as exc:
        raise download_failure(str(exc), records, sources) or explain(exc, sources, "packages") from exc
