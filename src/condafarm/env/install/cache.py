"""Environments kept on a host between jobs, keyed by what was asked for (like the Deadline Cloud samples'
AUTOMATIC named environments): reuse, update after a while, remove when unused.

Layout under the cache root:

    pkgs/                      py-rattler's package cache (shared by all environments)
    repodata/                  py-rattler's repodata cache
    envs/KEY/lock              held while an environment for KEY is checked, created or removed
    envs/KEY/N/                generation N: a complete environment (renamed into place whole)
    envs/KEY/N.used            touched whenever a job enters generation N
    envs/KEY/N.checked         touched whenever generation N was found to be still what a solve gives
    envs/KEY/.creating-N-*     an unfinished creation (or removal): never reused, removed by the next holder
                               of the lock

An update that solves to different packages makes generation N+1 instead of changing N under running jobs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from ...errors import AccessDenied, UsageError
from ...safe_files import write_file
from ...storage.location import S3Options
from ...user_cache import user_cache_root
from ..request import EnvSpec, read_lockfile
from .create import Manifest, aside, build, plan, read_manifest, remove_stale_staging
from .hostlock import HostLock

log = logging.getLogger(__name__)


def default_cache_root() -> Path:
    """`CONDAFARM_ENV_CACHE`, else condafarm's folder in this user's cache folder (`cache_root`)."""
    return Path(cache_root(sys.platform, os.environ, str(Path.home())))


def cache_root(platform: str, environ: Mapping[str, str], home: str) -> PurePath:
    """Where environments are kept on a `platform` host (a `sys.platform` value) with these variables and home
    folder: `CONDAFARM_ENV_CACHE`, else this user's condafarm cache folder (`user_cache_root`)."""
    if environ.get("CONDAFARM_ENV_CACHE"):
        return (PureWindowsPath if platform == "win32" else PurePosixPath)(environ["CONDAFARM_ENV_CACHE"])
    return user_cache_root(platform, environ, home)


@dataclass(frozen=True)
class Acquired:
    """The environment a job gets, and what it took: `created`, `updated` (a newer solve), `checked` (solved
    again, same packages) or `reused` (no solve, no install)."""

    prefix: Path
    action: str
    manifest: Manifest


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _planted(link: Path) -> str:
    """Why a symlink in the cache stops a command, and what to do."""
    return (
        f"{link} is a symlink, which condafarm never writes, creates or deletes an environment through (another "
        "user of the cache may have planted it): remove it"
    )


def _next_number(entry: Path) -> int:
    """The number of `entry`'s next generation: past every number-named thing there, a planted link included."""
    taken = [int(p.name) for p in entry.iterdir() if p.name.isascii() and p.name.isdigit()]
    return max(taken, default=0) + 1


def _real_folder(path: Path) -> bool:
    """A folder, not a symlink to one: another user of a shared cache could plant a link to any folder."""
    return path.is_dir() and not path.is_symlink()


class EnvCache:
    """The environments under `root`, shared by every job on the host."""

    def __init__(self, root: Path, lock_timeout: float = 3600.0) -> None:
        self.root = root.absolute()
        self.lock_timeout = lock_timeout

    @property
    def packages(self) -> Path:
        return self.root / "pkgs"

    @property
    def repodata(self) -> Path:
        return self.root / "repodata"

    def entry(self, key: str) -> Path:
        return self.root / "envs" / key

    def generations(self, key: str) -> list[int]:
        """Complete generations of `key`, oldest first (only renamed-into-place folders have number names; a
        symlink someone planted in the shared cache is none)."""
        entry = self.entry(key)
        if not _real_folder(entry):
            return []
        return sorted(int(p.name) for p in entry.iterdir() if p.name.isascii() and p.name.isdigit() and _real_folder(p))

    def acquire(
        self,
        spec: EnvSpec | None,
        *,
        lockfile: Path | None = None,
        update_after_minutes: float | None = None,
        recreate: bool = False,
        s3: S3Options | None = None,
        say: Callable[[str], None] = log.info,
        job_record: bool = False,
    ) -> Acquired:
        """The environment for `spec` (or `lockfile`), created if missing, solved again if older than
        `update_after_minutes` (None: never), else reused as is. `recreate` installs a new generation from a
        fresh solve whatever the current one holds (jobs still running in the old one keep it).

        A job record (`job_record`, see `create.plan`) was checked against `spec` when its environment was
        made, so that environment is keyed by both: the same record for another request is checked anew. An
        environment a solve of `spec` made here that holds exactly the record's files is that environment already.
        """
        if lockfile is not None:
            if job_record and spec is not None:
                solved = self._solved_as_recorded(spec, lockfile, say)
                if solved is not None:
                    return solved
            key = "lock-" + _file_hash(lockfile, spec.key if job_record and spec is not None else "")
        elif spec is not None:
            key = spec.key
        else:
            raise UsageError("give packages (--packages) or a lockfile (--lockfile)")
        entry = self.entry(key)
        for folder in (entry.parent, entry):
            if folder.is_symlink():
                raise AccessDenied(_planted(folder))
        with HostLock(entry / "lock", self.lock_timeout):
            remove_stale_staging(entry)
            generations = self.generations(key)
            now = time.time()
            current = entry / str(generations[-1]) if generations else None
            manifest = read_manifest(current) if current else None
            due = recreate or (
                lockfile is None  # a lockfile names exact files: nothing to update
                and update_after_minutes is not None
                and current is not None
                and _age(entry / f"{current.name}.checked", now) >= update_after_minutes * 60
            )
            if current is not None and manifest is not None and not due:
                say(f"reusing cached environment {current} (no solve, no install)")
                action = "reused"
            else:
                planned = plan(spec, lockfile, self.repodata, s3, say, job_record=job_record)
                if (
                    not recreate
                    and current is not None
                    and manifest is not None
                    and planned.manifest.locked == manifest.locked
                ):
                    say(f"cached environment {current} is still what the channels give; reusing it")
                    action = "checked"
                else:
                    number = _next_number(entry)
                    target = entry / str(number)
                    say(f"installing {len(planned.records)} package(s) into {target}")
                    build(target, planned, self.packages)
                    action = "updated" if current is not None else "created"
                    current, manifest = target, planned.manifest
                write_file(entry / f"{current.name}.checked", b"", overwrite=True)
            write_file(entry / f"{current.name}.used", b"", overwrite=True)
            assert manifest is not None
            write_file(entry / "request.json", manifest.to_json(), overwrite=True)
        return Acquired(current, action, manifest)

    def _solved_as_recorded(self, spec: EnvSpec, record: Path, say: Callable[[str], None]) -> Acquired | None:
        """The environment a solve of `spec` made on this host, if it holds exactly the files of the job's
        `record`: it is what installing the record would give, so the host that ran the job's first session (and
        recorded that solve) enters it again without reading the channels or installing it a second time."""
        entry = self.entry(spec.key)
        if not self.generations(spec.key):
            return None
        try:
            recorded = set(read_lockfile(record)[1])
        except UsageError:
            return None  # the usual path refuses it, saying why
        with HostLock(entry / "lock", self.lock_timeout):
            for number in reversed(self.generations(spec.key)):
                prefix = entry / str(number)
                manifest = read_manifest(prefix)
                if manifest is not None and set(manifest.locked) == recorded:
                    say(f"reusing cached environment {prefix}: the job's record lists its files (no solve, no install)")
                    write_file(entry / f"{number}.used", b"", overwrite=True)
                    return Acquired(prefix, "reused", manifest)
        return None

    def clean(self, say: Callable[[str], None] = log.info) -> None:
        """Empty the package and repodata caches, as `conda clean --all` does; environments stay. Each folder
        is renamed aside before it is deleted, so nothing reads a half-deleted one, though an install on this
        host at that very moment fails as it would under conda."""
        for folder in (self.packages, self.repodata):
            if folder.is_dir():
                aside = folder.with_name(f".cleaning-{folder.name}-{os.getpid()}-{time.monotonic_ns()}")
                os.rename(folder, aside)
                shutil.rmtree(aside, ignore_errors=True)
                say(f"emptied the cache {folder}")

    def cleanup(self, unused_hours: float, say: Callable[[str], None] = log.info) -> list[Path]:
        """Remove environments no job entered for `unused_hours`, skipping any another job holds; returns
        what was removed. A symlink planted in the shared cache is never followed: it would make this delete
        folders elsewhere. Each generation is renamed aside before it is deleted, so a removal cut short (a
        killed job) leaves a `.creating-*` folder that nothing reuses, never a half-deleted generation."""
        removed: list[Path] = []
        envs = self.root / "envs"
        if envs.is_symlink():
            say(f"removed nothing: {_planted(envs)}")
            return removed
        if not envs.is_dir():
            return removed
        now = time.time()
        for entry in sorted(p for p in envs.iterdir() if _real_folder(p)):
            lock = HostLock(entry / "lock")
            try:
                if not lock.try_acquire():
                    continue
            except AccessDenied as exc:  # one planted link stops the cleanup of that entry only
                say(f"skipped {entry}: {exc}")
                continue
            try:
                for number in self.generations(entry.name):
                    folder = entry / str(number)
                    if _age(entry / f"{number}.used", now) > unused_hours * 3600:
                        leaving = aside(folder, "removed")
                        try:
                            os.rename(folder, leaving)
                        except OSError as exc:  # Windows: a program still running from it holds its files
                            say(f"kept {folder}, unused for more than {unused_hours:g} hours: {exc.strerror}")
                            continue
                        say(f"removing {folder}: unused for more than {unused_hours:g} hours")
                        shutil.rmtree(leaving, ignore_errors=True)
                        for stamp in (f"{number}.used", f"{number}.checked"):
                            (entry / stamp).unlink(missing_ok=True)
                        removed.append(folder)
            finally:
                lock.release()
        return removed


def _file_hash(path: Path, salt: str = "") -> str:
    try:
        return hashlib.sha256(path.read_bytes() + salt.encode()).hexdigest()[:24]
    except OSError as exc:
        raise UsageError(f"cannot read lockfile {path}: {exc.strerror}") from exc
