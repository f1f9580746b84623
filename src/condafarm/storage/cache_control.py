"""The Cache-Control header of every object condafarm writes (and its channel server sends), by what it is.

Without one, HTTP clients guess how long a copy stays fresh: py-rattler (and so pixi) kept a cached shard index
for about a tenth of its age and missed a package published a moment before. Objects whose content never
changes under their name (package files, content-addressed shards) are `immutable`; every other object
(`repodata.json` and its `.zst`, the shard index, `run_exports.json`, `index.html`, state) must be revalidated
on every use (`no-cache`: an unchanged one costs a 304 and no body), or, with `CONDAFARM_CACHE_MAX_AGE=N`
(seconds, at most a day), may be reused for N seconds without asking, trading freshness for requests.
"""

from __future__ import annotations

import os
import re

from ..errors import UsageError

IMMUTABLE = "max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: Bump when the rule changes: `index` rewrites the headers of a subdir's objects written under an older one.
VERSION = 1
MAX_AGE_LIMIT = 86_400

_SHARD = re.compile(r"(^|/)shards/[0-9a-f]{64}\.msgpack\.zst$")


def mutable_cache_control() -> str:
    """The header of objects that change: `no-cache`, or `max-age=N` with `CONDAFARM_CACHE_MAX_AGE=N`."""
    raw = os.environ.get("CONDAFARM_CACHE_MAX_AGE", "").strip()
    if not raw or raw == "0":
        return REVALIDATE
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_AGE_LIMIT:  # "²".isdigit(), but int("²") fails
        raise UsageError(
            f"CONDAFARM_CACHE_MAX_AGE={raw!r}: give a whole number of seconds from 0 to {MAX_AGE_LIMIT} "
            "(0 or unset: clients revalidate every time)"
        )
    return f"max-age={int(raw)}"


def is_immutable(key: str) -> bool:
    """Whether the object at `key` never changes under its name: a package file or a content-addressed shard."""
    return key.endswith((".conda", ".tar.bz2")) or _SHARD.search(key) is not None


def cache_control(key: str) -> str:
    """The Cache-Control header for the object at `key`. A bad `CONDAFARM_CACHE_MAX_AGE` fails every write,
    so the first write of a command fails, before anything changed."""
    mutable = mutable_cache_control()
    return IMMUTABLE if is_immutable(key) else mutable
