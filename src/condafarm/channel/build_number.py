"""Build numbers from a channel: the next free one (`+N` style) and atomic reservations for concurrent builds.

`rattler-build publish --build-number=+1` reads the highest build number and builds with the next one; two jobs
doing that at once produce the same filename and one publish fails after a whole build. Here a job first
reserves its number with a put-if-absent of a small object under `SUBDIR/.condafarm/build-numbers/`; a second
job finds the object and takes the next number. A reservation left behind by a crashed job is never taken over:
judging it dead would mean comparing another host's clock with ours, and a number taken too early collides,
while a skipped one only leaves a gap in the build numbers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from dataclasses import dataclass

from ..errors import Conflict, UsageError
from ..numbers import BUILD_NUMBER, check_number
from ..storage import Storage, open_storage
from ..storage.cas import put_if_unchanged
from ..storage.location import KNOWN_SUBDIRS, Channel
from .commit import load_repodata, read_some

log = logging.getLogger(__name__)

RESERVATION_DIR = ".condafarm/build-numbers"
_ATTEMPTS = 100
_BUILD_NUMBER_RE = re.compile(r"^(\+)?(\d+)$")


@dataclass(frozen=True)
class BuildNumber:
    """`--build-number` as given: `+N` (`relative`: highest in the channel plus N) or `N` (exactly N)."""

    value: int
    relative: bool

    @classmethod
    def parse(cls, text: str) -> BuildNumber:
        match = _BUILD_NUMBER_RE.match(text.strip())
        if not match:
            raise UsageError(f"build number {text!r} must be N (e.g. 3) or +N (e.g. +1: highest in the channel + 1)")
        value = int(check_number(int(match.group(2)), f"build number {text.strip()!r}", BUILD_NUMBER))
        return cls(value, relative=bool(match.group(1)))


def highest_build_number(channel: Channel | Storage, name: str, version: str, subdir: str) -> int | None:
    """The highest build number of `name` `version` in `subdir` and `noarch/` repodata; None if there is none.

    A package may move between noarch and a platform subdir from one build to the next, and a conda client
    sees both, so both count. A missing channel or subdir counts as empty. Only the shard of `name` is read
    where the subdir commits to its shards, so the cost does not grow with the channel.
    """
    if subdir not in KNOWN_SUBDIRS:
        raise UsageError(f"unknown subdir {subdir!r}; expected one of {', '.join(sorted(KNOWN_SUBDIRS))}")
    storage = open_storage(channel)
    numbers = []
    for sub in dict.fromkeys((subdir, "noarch")):
        shard = read_some(storage, sub, {name})
        if shard.committed:
            group = shard.groups[name]
            records = list(group.packages.values()) + list(group.packages_conda.values())
        else:
            records = list(load_repodata(storage, sub)[0].records().values())
        numbers += [
            int(record.get("build_number", 0))
            for record in records
            if record.get("name") == name and str(record.get("version")) == version
        ]
    return max(numbers, default=None)


def next_build_number(channel: Channel | Storage, name: str, version: str, subdir: str, increment: int = 1) -> int:
    """The highest build number of `name` `version` in `subdir` and `noarch/`, plus `increment`.

    When the channel has no package of that name and version (or no channel exists yet), the highest is taken
    as 0, as `rattler-build publish --build-number=+N` does: `+1` gives 1 and `+0` gives 0.
    """
    check_number(increment, "the increment", BUILD_NUMBER)
    highest = highest_build_number(channel, name, version, subdir)
    return (highest or 0) + increment


@dataclass
class Reservation:
    """A build number held in the channel for one build; `release()` when the package is published or failed."""

    storage: Storage
    key: str
    etag: str
    name: str
    version: str
    subdir: str
    number: int

    def release(self) -> None:
        """Remove the reservation if it is still ours (it may have expired and been taken over meanwhile)."""
        current = self.storage.head(self.key)
        if current is not None and current.etag == self.etag:
            self.storage.delete(self.key)


def reservation_key(name: str, version: str, subdir: str, number: int) -> str:
    return f"{subdir}/{RESERVATION_DIR}/{name}-{version}-{number}.json"


def _reservation_body(name: str, version: str, subdir: str, number: int) -> bytes:
    """Who holds the number, for a person looking at a reservation a crashed job left."""
    return json.dumps(
        {
            "name": name,
            "version": version,
            "subdir": subdir,
            "build_number": number,
            "created": time.time(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        },
        indent=1,
    ).encode()


def reserve_build_number(
    channel: Channel | Storage,
    name: str,
    version: str,
    subdir: str,
    increment: int = 1,
    *,
    at_least: int = 0,
) -> Reservation:
    """Reserve the next build number (`next_build_number`, but not below `at_least`) for one build, atomically
    across hosts.

    If another job holds that number, the next one is tried. After reserving, the repodata is read again:
    a job that published and released the number in between is seen there, and a higher number is taken.
    """
    storage = open_storage(channel)
    candidate = max(next_build_number(storage, name, version, subdir, increment), at_least)
    for _ in range(_ATTEMPTS):
        key = reservation_key(name, version, subdir, candidate)
        body = _reservation_body(name, version, subdir, candidate)
        try:
            etag = put_if_unchanged(storage, key, body, None, content_type="application/json")
        except Conflict:
            candidate += 1  # held by another job, alive or not
            continue
        reservation = Reservation(storage, key, etag, name, version, subdir, candidate)
        highest = highest_build_number(storage, name, version, subdir)
        if highest is not None and highest >= candidate:
            reservation.release()
            candidate = highest + max(increment, 1)
            continue
        return reservation
    raise Conflict(
        f"could not reserve a build number for {name} {version} in {storage.channel.url_of(subdir)} after "
        f"{_ATTEMPTS} tries; remove reservations crashed jobs left under {subdir}/{RESERVATION_DIR}/ or give "
        "--build-number N"
    )
