"""Which packages a prune must leave alone: those named by recent lockfiles and by render jobs' package records.

Sources are lockfiles (any format that lists package URLs: explicit, pixi.lock, conda-lock), folders of them,
and job record locations on S3 (`env enter --job-records`, where every session of a job reads its package list).
Folder entries count while modified within the protection window. S3 records always count: let an S3 lifecycle
rule on the records prefix expire old jobs, since a listing gives no time to judge them by here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote

from ...errors import UsageError
from ...storage import Storage, open_storage
from ...storage.location import Kind, classify

log = logging.getLogger(__name__)

DAY = 86400.0

#: `SUBDIR/FILENAME` at the end of a package URL, in any lockfile format (explicit, pixi.lock, conda-lock).
_PACKAGE_URL = re.compile(r"([^\s/\"'#]+)/([^\s/\"'#]+?\.(?:conda|tar\.bz2))(?=[\s\"'#]|$)", re.MULTILINE)


def named_packages(text: str) -> set[tuple[str, str]]:
    """`(subdir, filename)` of every package URL in a lockfile's text."""
    return {(unquote(s), unquote(f)) for s, f in _PACKAGE_URL.findall(text)}


def _job_records(location: str, like: Storage) -> tuple[set[tuple[str, str]], list[str]]:
    """Packages named by the job records under an S3 `location` (LOCATION/JOB_ID/*.lock.txt)."""
    records = open_storage(classify(location).channel(like.channel.s3))
    protected: set[tuple[str, str]] = set()
    used: list[str] = []
    for job in records.list_dirs(""):
        for info in records.list_objects(f"{job}/"):
            blob = records.get(info.key) if info.name.endswith(".lock.txt") else None
            if blob is not None:
                protected |= named_packages(blob.data.decode(errors="replace"))
                used.append(records.channel.url_of(info.key))
    return protected, used


def protected_files(
    paths: Iterable[str | Path], window_days: float, now: float, storage: Storage | None = None
) -> tuple[set[tuple[str, str]], list[str]]:
    """`(subdir, filename)` of every package named by the lockfiles and job records at `paths`, and which
    files those were. A folder stands for every file under it (each counted while modified within
    `window_days`); an `s3://` location stands for the job records under it (read with `storage`'s S3 options).
    A file named outright must exist and name packages, so a typo never leaves a prune unprotected. Empty
    strings (unset job parameters) name none."""
    protected: set[tuple[str, str]] = set()
    used: list[str] = []
    for given in paths:
        if not str(given).strip():
            continue  # an empty job parameter: no lockfile given
        location = classify(str(given))
        if location.kind is Kind.S3:
            if storage is None:
                raise UsageError(f"--protect-lockfile {given}: job records on S3 need the channel's S3 options")
            found, files = _job_records(str(given), storage)
            protected |= found
            used += files
            continue
        path = Path(given)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            candidates = [path]
        else:
            raise UsageError(f"--protect-lockfile {given}: no such file or folder")
        for file in candidates:
            age_days = (now - file.stat().st_mtime) / DAY
            if age_days > window_days:
                log.info("not protecting packages of %s: modified %.0f days ago", file, age_days)
                continue
            found = named_packages(file.read_text(errors="replace"))
            if not found and file == path:
                raise UsageError(f"--protect-lockfile {given} names no package URL (.conda or .tar.bz2)")
            if found:
                protected |= found
                used.append(str(file))
    return protected, used
