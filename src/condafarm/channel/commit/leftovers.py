"""What interrupted writers leave in a channel (temporary files, unfinished uploads): reported, then removed.

One scan covers the whole channel (on S3 one ListMultipartUploads request), so an index run pays it once.
"""

from __future__ import annotations

import logging

from ...storage import Leftover, Storage

log = logging.getLogger(__name__)

#: A leftover untouched for this long, by the store's clock, belongs to a writer that is gone (a live upload keeps
#: writing to it).
LEFTOVER_SECONDS = 3600.0


def find_leftovers(storage: Storage) -> list[Leftover]:
    """Leftovers anywhere in the channel: beside packages, among shards, in condafarm's state folders."""
    return storage.leftovers("")


def describe(leftover: Leftover) -> str:
    """One line for `check`: what it is, how big and old, and what removes it."""
    age = "age unknown" if leftover.age_seconds is None else f"{leftover.age_seconds / 3600:.1f} h old"
    return (
        f"{leftover.key}: {leftover.what} left by an interrupted write ({leftover.size} bytes, {age}); "
        f"`condafarm index` removes it once it is {LEFTOVER_SECONDS / 3600:.0f} h old"
    )


def remove_leftovers(storage: Storage) -> list[str]:
    """Remove the channel's leftovers old enough to be abandoned; their keys."""
    removed = []
    for leftover in find_leftovers(storage):
        if leftover.age_seconds is not None and leftover.age_seconds >= LEFTOVER_SECONDS:
            log.info("removing %s (%s, %.1f h old)", leftover.key, leftover.what, leftover.age_seconds / 3600)
            storage.discard(leftover)
            removed.append(leftover.key)
    return removed
