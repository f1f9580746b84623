"""A channel's repodata on a storage: the one reader of `repodata.json`, its commit, and its CAS update.

Every change to a subdir's records is a compare-and-swap on the ETag of `repodata.json` (`storage.cas`), so
concurrent indexers, publishers and curators never lose each other's records. The files derived from
`repodata.json` follow it in `derived.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..conda.repodata import Repodata, repodata_key
from ..errors import Conflict, InvalidRepodata, NotFound
from ..storage import Blob, Storage, open_storage
from ..storage.cas import put_if_unchanged, retry_on_conflict
from ..storage.location import KNOWN_SUBDIRS, Channel
from .derived import Derived, sync_derived

log = logging.getLogger(__name__)


def read_repodata(storage: Storage, subdir: str, *, invalid_as_empty: bool = False) -> tuple[Repodata, Blob | None]:
    """The subdir's current repodata, and the `repodata.json` it came from (None: there is none yet).

    An unreadable `repodata.json` raises `InvalidRepodata`; with `invalid_as_empty` (a rebuild, which replaces
    it from the package files) it reads as empty, with its blob kept for the compare-and-swap.
    """
    blob = storage.get(repodata_key(subdir))
    if blob is None:
        return Repodata(subdir=subdir), None
    try:
        return Repodata.from_json(blob.data, subdir), blob
    except InvalidRepodata as exc:
        if not invalid_as_empty:
            raise
        log.warning("%s; rebuilding it", str(exc).split("; run ")[0])
        return Repodata(subdir=subdir), blob


def load_repodata(storage: Storage, subdir: str) -> tuple[Repodata, str | None]:
    """The subdir's current repodata and the etag to compare-and-swap against (None: there is none yet)."""
    repodata, blob = read_repodata(storage, subdir)
    return repodata, blob.etag if blob is not None else None


def commit_repodata(
    storage: Storage, subdir: str, repodata: Repodata, expected_etag: str | None
) -> tuple[str, Derived]:
    """Write `repodata.json` if nobody changed it since `expected_etag`, then the files derived from it.

    Returns the new JSON etag and what `sync_derived` wrote. Raises `Conflict` when another writer got there
    first; the caller re-reads and retries.
    """
    body = repodata.to_json()
    etag = put_if_unchanged(storage, repodata_key(subdir), body, expected_etag, content_type="application/json")
    return etag, sync_derived(storage, subdir, body, etag, repodata)


def update_repodata(
    storage: Storage,
    subdir: str,
    change: Callable[[Repodata], None],
    *,
    current: tuple[Repodata, str | None] | None = None,
) -> tuple[str, Derived]:
    """Apply `change` to the subdir's repodata with a compare-and-swap, re-reading and retrying on conflict.

    `change` may run several times, each time on the freshest repodata; it must only edit what it is given.
    `current` is a `load_repodata` result the caller already holds, tried first instead of reading again.
    This is how publish, yank and remove update a channel without listing it.
    """
    held = current

    def attempt() -> tuple[str, Derived]:
        nonlocal held
        repodata, etag = held if held is not None else load_repodata(storage, subdir)
        held = None
        change(repodata)
        return commit_repodata(storage, subdir, repodata, etag)

    return retry_on_conflict(
        attempt,
        what=storage.channel.url_of(repodata_key(subdir)),
        hint="retry, or run `condafarm index` to pick up the files",
    )


def discover_subdirs(storage: Storage) -> list[str]:
    """The channel's subdirs (folders named like platforms), always including `noarch`."""
    found = [d for d in storage.list_dirs("") if d in KNOWN_SUBDIRS]
    if not found and storage.head(repodata_key("noarch")) is None:
        raise NotFound(
            f"no conda channel at {storage.channel.url} (no subdir folders); "
            f"create one with `condafarm init {storage.channel.url}` or check the URL"
        )
    return sorted(set(found) | {"noarch"})


def init_channel(channel: Channel | Storage) -> bool:
    """Create an empty channel (`noarch/repodata.json` and `.zst`); False if it already existed."""
    storage = open_storage(channel)
    try:
        commit_repodata(storage, "noarch", Repodata(subdir="noarch"), None)
    except Conflict:
        return False
    return True


__all__ = [
    "commit_repodata",
    "discover_subdirs",
    "init_channel",
    "load_repodata",
    "read_repodata",
    "repodata_key",
    "update_repodata",
]
