"""`condafarm mirror`: copy the upstream files a farm needs into its channel, with publish's guarantees.

Order of work, each step safe to die after:
1. solve the closure on each platform from the upstream (`closure.py`);
2. read the channel's shards of those names: a file already indexed with the same sha256 is done, one indexed
   with other bytes stops the run before anything is copied (published files never change), one yanked there
   stays out;
3. per subdir, in batches: download each missing file, check its size and sha256 against the upstream record
   (`fetch.py`), and `publish` the batch (never overwriting, group commit, intents), each file with provenance
   saying where and when it came from, and with the dependencies its upstream record states (repodata patches
   kept: the mirror solves as the upstream does). A run killed mid-batch leaves uploaded files that no record names yet;
   the next run's publish of the same bytes indexes them, so a rerun copies only what is missing;
4. keep the spec in the channel (`stored.py`) so `condafarm mirror --to CHANNEL` repeats it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..channel.commit import Plan
from ..channel.provenance import mirrored_from
from ..channel.publish import publish
from ..env.channels import resolve_channels
from ..errors import AlreadyExists, UsageError
from ..storage import Storage, open_storage
from ..storage.location import Channel
from .closure import Closure, Wanted, solve_closure
from .fetch import Upstream
from .spec import MirrorSpec
from .stored import read_mirrors, remember

log = logging.getLogger(__name__)

#: A batch is published (and so kept, whatever happens later) once it holds this many files or bytes.
BATCH_BYTES = 256 * 1024 * 1024
DOWNLOAD_THREADS = 4


def batch_files() -> int:
    """Files per publish (`CONDAFARM_MIRROR_BATCH`, default 32): a killed run loses at most one batch's copying."""
    raw = os.environ.get("CONDAFARM_MIRROR_BATCH", "").strip()
    if not raw:
        return 32
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"CONDAFARM_MIRROR_BATCH={raw!r} is not a number of files above 0")
    return int(raw)


#: What the channel already has of a wanted file.
COPY, PRESENT, YANKED = "copy", "present", "yanked"

#: `progress(filename)` after each file is downloaded and checked.
MirrorProgress = Callable[[Wanted], None]


@dataclass
class MirrorReport:
    """What one mirror spec did (or, with `dry_run`, would do) to the channel."""

    channel: str
    spec: MirrorSpec
    dry_run: bool
    #: platform -> its closure's files (noarch included), each with what the channel has of it
    platforms: dict[str, list[tuple[Wanted, str]]] = field(default_factory=dict)
    copied: list[Wanted] = field(default_factory=list)
    excluded: list[Wanted] = field(default_factory=list)
    unlicensed: list[Wanted] = field(default_factory=list)
    #: package bytes read from the upstream, and the requests made for them
    upstream_bytes: int = 0
    upstream_requests: int = 0
    seconds: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)

    def missing(self) -> list[Wanted]:
        """Files the channel lacks, once each."""
        found = {w.key: w for files in self.platforms.values() for w, state in files if state == COPY}
        return [found[k] for k in sorted(found)]

    def summary(self) -> str:
        missing = self.missing()
        size = sum(w.size for w in missing)
        if self.dry_run:
            return f"would copy {len(missing)} file(s), {size} bytes, into {self.channel}"
        copied = sum(w.size for w in self.copied)
        return (
            f"copied {len(self.copied)} file(s), {copied} bytes, into {self.channel} "
            f"({self.upstream_requests} upstream requests, {self.seconds:.1f} s)"
        )


def mirror_channel(
    channel: Channel | Storage,
    spec: MirrorSpec | None = None,
    *,
    upstream: str | None = None,
    dry_run: bool = False,
    progress: MirrorProgress | None = None,
) -> list[MirrorReport]:
    """Copy the closure of `spec` from its upstream into `channel`, or of every spec the channel keeps when
    `spec` is None (`upstream` then replaces their upstream). A spec given is kept in the channel afterwards
    (not by a dry run).

    Raises `SolveError` when a platform's closure cannot be solved, `AlreadyExists` when the channel has a file
    of the same name with other bytes, `PackageError` for an upstream file that does not match its record.
    """
    storage = open_storage(channel)
    if spec is None:
        specs = read_mirrors(storage)
        if not specs:
            raise UsageError(
                f"{storage.channel.url} keeps no mirror specs; give UPSTREAM and --specs, e.g. "
                f"condafarm mirror https://conda.anaconda.org/conda-forge --to {storage.channel.url} --specs python"
            )
        if upstream is not None:
            specs = [s.from_upstream(upstream) for s in specs]
    else:
        specs = [spec]
    reports = [_mirror_one(storage, s, dry_run, progress) for s in specs]
    if spec is not None and not dry_run:
        remember(storage, spec)
    return reports


def _mirror_one(storage: Storage, spec: MirrorSpec, dry_run: bool, progress: MirrorProgress | None) -> MirrorReport:
    started = time.monotonic()
    sources = resolve_channels([spec.upstream], storage.channel.s3 if storage.channel.is_s3 else None)
    report = MirrorReport(storage.channel.url, spec, dry_run)
    with tempfile.TemporaryDirectory(prefix="condafarm-mirror-") as tmp:
        closure = solve_closure(spec, sources, Path(tmp, "cache"))
        report.excluded, report.unlicensed = closure.excluded, closure.unlicensed
        states = _states(storage, closure)
        report.platforms = {p: [(w, states[w.key]) for w in files] for p, files in closure.platforms.items()}
        if not dry_run:
            upstream = Upstream(sources.names[0], storage.channel.s3 if storage.channel.is_s3 else None)
            report.copied = _copy(storage, upstream, report.missing(), Path(tmp, "files"), progress)
            report.upstream_bytes, report.upstream_requests = upstream.bytes_read, upstream.requests
    report.seconds = time.monotonic() - started
    report.requests = storage.request_counts()
    return report


def _states(storage: Storage, closure: Closure) -> dict[str, str]:
    """What the channel has of each wanted file, from the shards of their names only; raises `AlreadyExists`
    for a file it has with other bytes, before anything is copied."""
    files = closure.files()
    states: dict[str, str] = {}
    for subdir in sorted({w.subdir for w in files}):
        mine = [w for w in files if w.subdir == subdir]
        plan = Plan.read(storage, subdir, {w.name for w in mine})
        for wanted in mine:
            record = plan.record(wanted.filename, wanted.name)
            if plan.yanked(wanted.filename, wanted.name):
                log.info("%s was yanked from %s; not copied again", wanted.key, storage.channel.url)
                states[wanted.key] = YANKED
            elif record is None:
                states[wanted.key] = COPY
            elif record.get("sha256") == wanted.sha256:
                states[wanted.key] = PRESENT
            else:
                raise AlreadyExists(
                    f"{storage.channel.url_of(wanted.key)} already exists with other bytes than {wanted.url}, and "
                    f"published packages never change; keep the channel's own with --exclude '{wanted.name}'"
                )
    return states


def _copy(
    storage: Storage, upstream: Upstream, missing: list[Wanted], folder: Path, progress: MirrorProgress | None
) -> list[Wanted]:
    """Download, check and publish `missing`, a batch at a time (one subdir per batch)."""
    copied: list[Wanted] = []
    for batch in _batches(missing):
        paths = _download(upstream, batch, folder, progress)
        provenance = {w.filename: mirrored_from(upstream.location, w.url, w.sha256, w.size) for w in batch}
        patches = {w.filename: {"depends": list(w.depends), "constrains": list(w.constrains)} for w in batch}
        publish(storage, paths, provenance=provenance, patches=patches)
        copied += batch
        for path in paths:
            path.unlink()
    return copied


def _batches(missing: list[Wanted]) -> list[list[Wanted]]:
    limit = batch_files()
    batches: list[list[Wanted]] = []
    for wanted in missing:
        last = batches[-1] if batches else None
        if (
            last is None
            or last[0].subdir != wanted.subdir
            or len(last) >= limit
            or sum(w.size for w in last) + wanted.size > BATCH_BYTES
        ):
            batches.append([wanted])
        else:
            last.append(wanted)
    return batches


def _download(upstream: Upstream, batch: list[Wanted], folder: Path, progress: MirrorProgress | None) -> list[Path]:
    lock = threading.Lock()

    def one(wanted: Wanted) -> Path:
        path = folder / wanted.subdir / wanted.filename
        upstream.fetch(wanted, path)
        if progress is not None:
            with lock:
                progress(wanted)
        return path

    with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
        return list(pool.map(one, batch))


__all__ = ["MirrorReport", "mirror_channel"]
