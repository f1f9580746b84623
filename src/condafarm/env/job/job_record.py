"""The same packages for every session of a job: the first session records its exact package list, later
sessions install exactly that list and never solve.

A render job runs for hours over many sessions and hosts; if someone publishes a newer plug-in meanwhile, a
per-session solve would render frames 1-900 with one build and 901-2000 with another. The record is an explicit
lockfile (URL and sha256 of every file) at `LOCATION/JOB_ID/REQUEST-PLATFORM.lock.txt`, where LOCATION is a
folder or an S3 prefix the queue role may write (the channel itself stays read-only for render queues; see
`condafarm iam-policy --job-records`). Two first sessions entering at once agree through a conditional write:
the loser installs the winner's list. A session that cannot read or write the record fails with one line
instead of solving anew, since that would silently break the job's consistency.

Every job on the queue can write that location, so a record is a claim, not truth: it is installed only if
its files are in the job's own channels with the same sha256, for this platform, and make an environment for
the request (`recorded`). A record that fails is refused, like an unreadable one, rather than solved anew:
the job's earlier sessions used some list, and a fresh solve could silently give the rest of the job another.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import Conflict, SolveError, StorageError, UsageError
from ...storage import Storage, open_storage
from ...storage.cas import put_if_unchanged
from ...storage.location import Channel, S3Options, parse_channel
from ..request import EnvSpec, current_platform, explicit_lockfile, read_explicit_lockfile
from .session import Entered

#: A record lists one URL per package (~150 bytes): 8 MiB is some 50,000 packages, far beyond any environment.
#: A larger record is refused after reading this much, never downloaded whole on every render host.
MAX_RECORD_BYTES = 8 << 20

#: What a job id may be, as a folder name on every file system and an S3 key part.
_JOB_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class JobRecords:
    """Where a job's package records live, and which job this session belongs to."""

    location: Channel
    job_id: str

    def __post_init__(self) -> None:
        # it names a folder in the record location: no separators, no `..`, no name too long for a file system
        if not _JOB_ID.fullmatch(self.job_id):
            raise UsageError(
                f"job id {self.job_id[:40]!r}{'...' if len(self.job_id) > 40 else ''} is not one: up to 128 "
                "letters, digits, '-', '_' and '.', not starting with '.' (Deadline's look like job-0123abcd...)"
            )

    @classmethod
    def for_session(
        cls,
        location: str | None,
        job_id: str | None,
        *,
        consistency: str = "enabled",
        s3: S3Options | None = None,
        say: Callable[[str], None] = print,
    ) -> JobRecords | None:
        """Where this session's job keeps its records: `location` (else `CONDAFARM_JOB_RECORDS`) for the job
        `job_id` (else `DEADLINE_JOB_ID`, which the worker agent sets); None when job-consistent environments
        are `disabled` or no location is set, and (saying so) when no job id is known."""
        where = (location or os.environ.get("CONDAFARM_JOB_RECORDS", "")).strip()
        job = job_id or os.environ.get("DEADLINE_JOB_ID", "")
        if consistency == "disabled" or not where:
            return None
        if not job:
            say("job-consistent packages are off: no job id (--job-id or DEADLINE_JOB_ID)")
            return None
        return cls(parse_channel(where, s3), job)

    def key(self, spec: EnvSpec) -> str:
        platform = spec.platform or current_platform()
        return f"{self.job_id}/{spec.key}-{platform}.lock.txt"


#: `enter(spec, lockfile, job_record)`: `enter_environment` with the session's other options.
Enter = Callable[[EnvSpec | None, Path | None, bool], Entered]

_TURN_OFF = (
    "turn job-consistent environments off for this job (--job-consistency disabled / CondaJobConsistency=DISABLED)"
)


def _unreachable(url: str, exc: StorageError) -> StorageError:
    return type(exc)(
        f"cannot use the job's package record {url} ({exc}); the session stops rather than solve anew, which "
        "could give this job other packages than its earlier sessions: fix access to the record location, "
        f"or {_TURN_OFF}"
    )


def _refused(url: str, reason: str) -> SolveError:
    return SolveError(
        f"refused the job's package record {url}: {reason}. Nothing was installed. It was changed after the job's "
        f"first session wrote it, or the channels no longer hold its files: delete it (the next session solves "
        f"and records anew), or {_TURN_OFF}"
    )


def enter_for_job(
    spec: EnvSpec,
    records: JobRecords,
    enter: Enter,
    say: Callable[[str], None],
) -> Entered:
    """Enter the job's environment: from its record when there is one (checked against `spec`), else solve and
    record it."""
    storage = open_storage(records.location)
    key = records.key(spec)
    url = storage.channel.url_of(key)
    try:
        blob = storage.get(key, limit=MAX_RECORD_BYTES)
    except StorageError as exc:
        raise _unreachable(url, exc) from exc
    if blob is not None:
        say(f"packages from the job's record {url} (resolved by an earlier session of job {records.job_id})")
        return _enter_recorded(blob.data, spec, url, enter)
    entered = enter(spec, None, False)
    text = explicit_lockfile(entered.manifest.locked, entered.manifest.platform).encode()
    try:
        put_if_unchanged(storage, key, text, None, content_type="text/plain")
    except Conflict:
        winner = _read(storage, key, url)
        if winner == text:
            say(f"packages solved now; another session of job {records.job_id} recorded the same list at {url}")
            return entered
        say(f"another session of job {records.job_id} recorded its list first at {url}; installing that list")
        return _enter_recorded(winner, spec, url, enter)
    except StorageError as exc:
        raise _unreachable(url, exc) from exc
    say(f"packages solved now and recorded for the later sessions of job {records.job_id} at {url}")
    return entered


def _read(storage: Storage, key: str, url: str) -> bytes:
    try:
        blob = storage.get(key, limit=MAX_RECORD_BYTES)
    except StorageError as exc:
        raise _unreachable(url, exc) from exc
    if blob is None:
        raise StorageError(f"the job's package record {url} vanished right after another session wrote it")
    return blob.data


def _enter_recorded(data: bytes, spec: EnvSpec, url: str, enter: Enter) -> Entered:
    if len(data) > MAX_RECORD_BYTES:
        raise _refused(url, f"it is larger than {MAX_RECORD_BYTES >> 20} MiB, more than any environment's list")
    try:
        read_explicit_lockfile(data.decode("utf-8"), "the record")
    except UnicodeDecodeError as exc:
        raise _refused(url, "it is not UTF-8 text") from exc
    except UsageError as exc:
        raise _refused(url, str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="condafarm-job-") as tmp:
        lockfile = Path(tmp, "job.lock.txt")
        lockfile.write_bytes(data)
        try:
            return enter(spec, lockfile, True)
        except SolveError as exc:
            raise _refused(url, str(exc)) from exc
