"""Proving a store honours conditional writes (If-None-Match, If-Match) before any writer trusts it.

Some S3-compatible stores (emulators, older gateways) answer 200 to every conditional PUT. On such a store
concurrent publishers overwrite packages and lose records while exiting 0, so condafarm probes each channel's
store once (four small requests under `.condafarm/probe/`), remembers the answer on this host and in the
channel (`.condafarm/store.json`, for `check`), and refuses to write where the conditions are ignored, unless the
user promises a single writer (`--single-writer`), in which case every commit is read back.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from ..errors import AlreadyExists, Conflict, StorageError
from ..side_file import BadSideFile, finite, mapping, parse
from ..user_cache import user_cache_dir
from . import Storage

log = logging.getLogger(__name__)

RECORD_KEY = ".condafarm/store.json"
PROBE_FOLDER = ".condafarm/probe"
#: How long a probe's answer is trusted on this host before the store is probed again.
TRUST_SECONDS = 7 * 24 * 3600


class UnsafeStore(StorageError):
    """The store ignores conditional writes, so concurrent writers could overwrite packages and lose records."""


def _cache_file() -> Path:
    """Where this host remembers probe answers: `CONDAFARM_CACHE_DIR`, else this user's condafarm cache folder."""
    folder = os.environ.get("CONDAFARM_CACHE_DIR")
    return (Path(folder) if folder else user_cache_dir()) / "stores.json"


def _store_id(storage: Storage) -> str:
    """Which store a channel lives in: the endpoint and bucket (the prefix shares the bucket's behaviour)."""
    channel = storage.channel
    endpoint = channel.s3.endpoint_url if channel.s3 is not None else None
    return f"{endpoint or 'aws'} {channel.bucket or channel.url}"


def _cached(storage: Storage) -> list[str] | None:
    path = _cache_file()
    try:
        data = path.read_bytes()
    except OSError:
        return None

    def shape(value: Any) -> list[str] | None:
        entry = mapping(value, "the cache").get(_store_id(storage))
        if entry is None or time.time() - finite(mapping(entry, "an entry")["checked"], "`checked`") > TRUST_SECONDS:
            return None
        return _ignored({"ignored_conditions": entry.get("ignored")})

    return parse(data, str(path), shape, otherwise="probing the store again")


def _remember(storage: Storage, ignored: list[str]) -> None:
    path = _cache_file()
    try:
        known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        known = {}
    known[_store_id(storage)] = {"ignored": ignored, "checked": time.time()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home only costs a probe next time
        log.debug("cannot remember the store probe in %s: %s", path, exc)


def probe(storage: Storage) -> list[str]:
    """Which conditions the store ignores (empty when it honours both), found with four small requests."""
    key = f"{PROBE_FOLDER}/{secrets.token_hex(8)}"
    ignored = []
    storage.put(key, b"1", if_absent=True)
    try:
        try:
            storage.put(key, b"2", if_absent=True)
            ignored.append("If-None-Match")
        except AlreadyExists:
            pass
        try:
            storage.put(key, b"3", if_match='"condafarm-probe-etag-that-never-exists"')
            ignored.append("If-Match")
        except Conflict:
            pass
    finally:
        storage.delete(key)
    record = {"ignored_conditions": ignored, "checked": time.time(), "store": _store_id(storage)}
    storage.put(RECORD_KEY, json.dumps(record, indent=1).encode(), content_type="application/json")
    return ignored


def recorded_problem(storage: Storage) -> str | None:
    """For `check` (read-only): what the channel's last probe found wrong with its store, or None."""
    blob = storage.get(RECORD_KEY)
    if blob is None:
        return None
    ignored = parse(blob.data, storage.channel.url_of(RECORD_KEY), _ignored, otherwise="check leaves it out")
    return _refusal(storage, ignored) if ignored else None


def _ignored(value: Any) -> list[str]:
    ignored = mapping(value, "the record").get("ignored_conditions") or []
    if not isinstance(ignored, list) or not all(isinstance(c, str) for c in ignored):
        raise BadSideFile("`ignored_conditions` is not a list of strings")
    return ignored


def _refusal(storage: Storage, ignored: list[str]) -> str:
    endpoint = storage.channel.s3.endpoint_url if storage.channel.s3 is not None else "AWS S3"
    return (
        f"the store at {endpoint} ignores {' and '.join(ignored)} (a conditional PUT it should refuse succeeded): "
        "concurrent writers would overwrite packages and lose records; use a store that honours conditional "
        "writes (AWS S3, MinIO, SeaweedFS, Ceph RGW), or pass --single-writer if only one writer ever writes here"
    )


def ensure_conditional_writes(storage: Storage) -> None:
    """Refuse to write to a store that ignores conditional writes (probing it once), unless single-writer."""
    if storage.conditions_proven:
        return
    ignored = _cached(storage)
    if ignored is None:
        log.info("checking that %s honours conditional writes (once per store)", _store_id(storage))
        ignored = probe(storage)
        _remember(storage, ignored)
    if ignored and not storage.single_writer:
        raise UnsafeStore(_refusal(storage, ignored))
    if ignored:
        log.warning("%s: writing as the single writer (every commit is read back)", _refusal(storage, ignored))
    storage.conditions_proven = True
