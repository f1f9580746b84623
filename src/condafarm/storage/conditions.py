"""Proving a store honours conditional writes (If-None-Match, If-Match) before any writer trusts it.

Some S3-compatible stores (emulators, older gateways) answer 200 to every conditional PUT. On such a store
concurrent publishers overwrite packages and lose records while exiting 0, so condafarm probes each channel's
store once (four small requests under `.condafarm/probe/`), remembers the answer on this host and in the
channel (`.condafarm/store.json`, for `check`), and refuses to write where the conditions are ignored, unless the
user promises a single writer (`--single-writer`), in which case every commit is read back.

What this host remembers holds only for the server it was proven on: another server can come to answer at the
same endpoint (a gateway replaced, reconfigured or upgraded). So each writing command first makes one
conditional PUT that must be refused (`If-None-Match: *` on the channel's `store.json`, which the probe wrote),
and the refusing server must name itself as the proven one did (its `Server` header); anything else, and the
store is probed again.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AlreadyExists, Conflict, StorageError
from ..side_file import MAX_BYTES, BadSideFile, finite, mapping, parse
from ..user_cache import user_cache_dir
from .contract import Storage

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
    """What this host found when it last probed the store, while that is recent and the store still the one
    probed; None when it must be probed (again)."""
    path = _cache_file()
    try:
        data = path.read_bytes()
    except OSError:
        return None

    def shape(value: Any) -> tuple[float, str, list[str]] | None:
        entry = mapping(value, "the cache").get(_store_id(storage))
        if entry is None:
            return None
        entry = mapping(entry, "an entry")
        checked = finite(entry["checked"], "`checked`")
        return checked, str(entry.get("server", "")), _ignored({"ignored_conditions": entry.get("ignored")})

    found = parse(data, str(path), shape, otherwise="probing the store again")
    if found is None:
        return None
    checked, server, ignored = found
    if not 0 <= time.time() - checked <= TRUST_SECONDS:
        return None
    if ignored:  # a single writer goes on reading back; anyone else is refused, unless the store was mended
        return ignored if storage.single_writer else None
    return ignored if _still_the_proven_store(storage, server) else None


def _still_the_proven_store(storage: Storage, server: str) -> bool:
    """One request: a conditional PUT of the probe's record that an honest store refuses (the record is there),
    answered by a server naming itself as the proven one did when it refused. A store that ignores the condition,
    or one that never held the record (a new server, an emptied bucket), takes the PUT, and is probed again."""
    try:
        storage.put(RECORD_KEY, _UNPROVEN, if_absent=True, content_type="application/json")
    except AlreadyExists:
        if storage.server == server:
            return True
        log.info(
            "%s now answers as %r, not %r: proving its conditional writes again",
            _store_id(storage),
            storage.server,
            server,
        )
        return False
    log.info("%s took a write it should have refused, or is a new store: proving it again", _store_id(storage))
    return False


#: What `store.json` says between a write the store should have refused and the probe that follows it.
_UNPROVEN = json.dumps({"ignored_conditions": [], "checked": None, "note": "being proven again"}).encode()


def _remember(storage: Storage, proof: Proof) -> None:
    path = _cache_file()
    try:
        known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    known[_store_id(storage)] = {"ignored": proof.ignored, "checked": time.time(), "server": proof.refused_by}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home only costs a probe next time
        log.debug("cannot remember the store probe in %s: %s", path, exc)


@dataclass(frozen=True)
class Proof:
    """What a probe found: the conditions the store ignores (none: it honours both), and how the server named
    itself when it refused a write (its `Server` header in a refusal: servers name themselves differently
    in refusals and successes), which later refusals must repeat."""

    ignored: list[str]
    refused_by: str = ""


def probe(storage: Storage) -> Proof:
    """Which conditions the store ignores, found with four small requests."""
    key = f"{PROBE_FOLDER}/{secrets.token_hex(8)}"
    ignored = []
    refused_by = ""
    storage.put(key, b"1", if_absent=True)
    try:
        try:
            storage.put(key, b"2", if_absent=True)
            ignored.append("If-None-Match")
        except AlreadyExists:
            refused_by = storage.server
        try:
            storage.put(key, b"3", if_match='"condafarm-probe-etag-that-never-exists"')
            ignored.append("If-Match")
        except Conflict:
            pass
    finally:
        storage.delete(key)
    record = {"ignored_conditions": ignored, "checked": time.time(), "store": _store_id(storage)}
    storage.put(RECORD_KEY, json.dumps(record, indent=1).encode(), content_type="application/json")
    return Proof(ignored, refused_by)


def recorded_problem(storage: Storage) -> str | None:
    """For `check` (read-only): what the channel's last probe found wrong with its store, or None."""
    blob = storage.get(RECORD_KEY, limit=MAX_BYTES)
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
        proof = probe(storage)
        _remember(storage, proof)
        ignored = proof.ignored
    if ignored and not storage.single_writer:
        raise UnsafeStore(_refusal(storage, ignored))
    if ignored:
        log.warning("%s: writing as the single writer (every commit is read back)", _refusal(storage, ignored))
    storage.conditions_proven = True
