"""The render queue environment's two actions. `enter`: get the job's environment (cached and reused, or
made for this session), write its exact package list into the session folder and the log, and compute its
activation. `exit`: remove the session's own environment and cached ones unused for too long."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import UsageError
from ...numbers import DURATION, check_number
from ...safe_files import write_file
from ...storage.location import S3Options
from ..channels import offline
from ..install import EnvCache, Manifest, activation_changes, create_environment, default_cache_root
from ..request import EnvSpec, explicit_lockfile

log = logging.getLogger(__name__)

#: Inside the session folder: the environment of a session that does not reuse cached ones...
SESSION_ENV = "condafarm-env"
#: ...and the exact package list of the session's environment, as an explicit lockfile.
SESSION_LOCKFILE = "condafarm-env.lock.txt"


@dataclass(frozen=True)
class Entered:
    """The environment a session entered, how it was obtained, and what activating it sets."""

    prefix: Path
    action: str
    manifest: Manifest
    changes: dict[str, str | None]
    lockfile: Path | None


def enter_environment(
    spec: EnvSpec | None,
    *,
    lockfile: Path | None = None,
    reuse: bool = True,
    cache_root: Path | None = None,
    session_dir: Path | None = None,
    update_after_minutes: float | None = None,
    recreate: bool = False,
    clean: bool = False,
    s3: S3Options | None = None,
    artifacts_dir: Path | None = None,
    say: Callable[[str], None] = log.info,
    job_record: bool = False,
    offline_only: bool = False,
) -> Entered:
    """Get the environment for `spec` (or exactly `lockfile`'s packages; with `job_record`, a job's record that
    must make an environment for `spec` from its channels, see `create.plan`) and its activation.

    With `reuse`, environments live in the host cache keyed by the request; otherwise one is made in
    `session_dir` for this session only. The resolved list (URL and sha256 of every file) is logged through
    `say` and written to `session_dir/condafarm-env.lock.txt`, which `--lockfile` turns back into this set.
    `recreate` makes a cached environment anew (see `EnvCache.acquire`); `clean` first empties the host's
    package and repodata caches (`EnvCache.clean`). With `artifacts_dir`, the environment's lockfiles and pinned
    YAML are also left there (see `artifacts`). `offline_only` fails at any request outside the channels
    (`OfflineViolation`, see `offline.py`).
    """
    if update_after_minutes is not None:
        check_number(update_after_minutes, "--update-after-minutes", DURATION)
    if session_dir is not None:
        _make_session_dir(session_dir)
    if session_dir is None and not reuse:
        raise UsageError("an environment for this session only (--reuse session) needs --session-dir")
    cache = EnvCache(cache_root or default_cache_root())
    if clean:
        cache.clean(say)
    with offline.guarded(offline_only):
        if reuse:
            acquired = cache.acquire(
                spec,
                lockfile=lockfile,
                update_after_minutes=update_after_minutes,
                recreate=recreate,
                s3=s3,
                say=say,
                job_record=job_record,
            )
            prefix, action, manifest = acquired.prefix, acquired.action, acquired.manifest
        else:
            assert session_dir is not None
            prefix = session_dir.absolute() / SESSION_ENV
            manifest = create_environment(
                prefix, spec, lockfile=lockfile, cache_dir=cache.root, s3=s3, force=True, job_record=job_record
            )
            action = "created"
    say(f"environment {prefix} ({action}) holds {len(manifest.locked)} package(s):")
    for package in manifest.locked:
        say(f"  {package.url}  sha256:{package.sha256}")
    written = None
    if session_dir is not None:
        written = session_dir / SESSION_LOCKFILE
        write_file(written, explicit_lockfile(manifest.locked, manifest.platform, manifest.origin), overwrite=True)
        say(f"exact package list written to {written} (recreate with --lockfile)")
    if artifacts_dir is not None:
        from .artifacts import leave_artifacts

        left = leave_artifacts(prefix, artifacts_dir)
        say(f"environment artifacts left with the job's outputs: {', '.join(str(p) for p in left)}")
    return Entered(prefix, action, manifest, activation_changes(prefix), written)


def _make_session_dir(session_dir: Path) -> None:
    """The session folder, made if missing (OpenJD makes it; a person trying the queue environment by hand
    may not have)."""
    if session_dir.exists() and not session_dir.is_dir():
        raise UsageError(
            f"--session-dir {session_dir} is a file; give a folder (in OpenJD, {{{{Session.WorkingDirectory}}}})"
        )
    try:
        session_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot make the session folder {session_dir} ({exc.strerror}); give a folder you can write"
        ) from exc


def exit_environment(
    *,
    session_dir: Path | None = None,
    cache_root: Path | None = None,
    cleanup_after_hours: float | None = None,
    say: Callable[[str], None] = log.info,
) -> list[Path]:
    """Remove the session's own environment, then cached environments unused for `cleanup_after_hours`
    (None: keep them). Returns the folders removed."""
    if cleanup_after_hours is not None:
        check_number(cleanup_after_hours, "--cleanup-after-hours", DURATION)
    if session_dir is not None and not session_dir.is_dir():
        raise UsageError(
            f"session folder {session_dir} does not exist, so it holds no environment to remove; pass the folder "
            "`env enter --session-dir` was given (in OpenJD, {{Session.WorkingDirectory}})"
        )
    removed = []
    if session_dir is not None and (session_dir / SESSION_ENV).is_dir():
        shutil.rmtree(session_dir / SESSION_ENV, ignore_errors=True)
        say(f"removed the session environment {session_dir / SESSION_ENV}")
        removed.append(session_dir / SESSION_ENV)
    if cleanup_after_hours is not None:
        removed += EnvCache(cache_root or default_cache_root()).cleanup(cleanup_after_hours, say)
    return removed
