"""Reading the JSON files other parties can write beside a channel's packages (provenance, leases, intents,
ready marks, the prune ledger, the index state, store records): input to check, never truth.

A file that is larger than any condafarm writes of its kind, is not JSON, nests deeper than any condafarm writes,
or has the wrong shape is treated as absent, with a warning that names it and says what follows; a command never
ends in an internal error over one. Readers fetch such files with `Storage.get(key, limit=MAX_BYTES)`, so an
oversized one costs `MAX_BYTES` of memory and transfer, not its size.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Deeper than any side file condafarm writes (provenance nests 4 levels); a deeper one is refused before
#: anything walks it recursively (printing, comparing).
MAX_DEPTH = 16
#: Larger than any single-item side file condafarm writes (a provenance record, an intent, a store record is a
#: few kB). The files that grow with the channel (the index state, the prune ledger) are read with `limit=None`:
#: they are as large as the channel, and written only by those who may index and prune it.
MAX_BYTES = 1 << 20


class BadSideFile(ValueError):
    """A side file's shape is wrong; raised by the shape checks given to `parse`."""


def parse(
    data: bytes,
    where: str,
    shape: Callable[[Any], T],
    *,
    otherwise: str = "treated as absent",
    limit: int | None = MAX_BYTES,
) -> T | None:
    """`shape(value)` for the JSON in `data`, or None with a warning naming `where` and `otherwise` (what
    happens instead) when it is over `limit` bytes, is not JSON, nests deeper than `MAX_DEPTH`, or `shape` rejects
    it (raising `BadSideFile`, `ValueError`, `KeyError`, `TypeError`, `AttributeError` or `OverflowError`)."""
    try:
        if limit is not None and len(data) > limit:
            raise BadSideFile(f"larger than {limit:,} bytes")
        value = json.loads(data)
        _check_depth(value)
        return shape(value)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc) or type(exc).__name__
        log.warning("%s is not a valid condafarm file (%s); %s", where, reason, otherwise)
        return None


def _check_depth(value: Any) -> None:
    level = [value]
    for _ in range(MAX_DEPTH + 1):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return
    raise BadSideFile(f"nested deeper than {MAX_DEPTH} levels")


def mapping(value: Any, what: str) -> dict[str, Any]:
    """`value` if it is a JSON object, else `BadSideFile` naming `what`."""
    if not isinstance(value, dict):
        raise BadSideFile(f"{what} is not an object")
    return value


def text_map(value: Any, what: str) -> dict[str, str]:
    """`value` if it is an object of strings."""
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadSideFile(f"{what} is not an object of strings")
    return value


def finite(value: Any, what: str) -> float:
    """`value` if it is a finite JSON number (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadSideFile(f"{what} is not a finite number")
    return float(value)


__all__ = ["MAX_BYTES", "MAX_DEPTH", "BadSideFile", "finite", "mapping", "parse", "text_map"]
