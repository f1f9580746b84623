"""Files derived from a subdir's repodata: CEP-16 shards and CEP-12 `run_exports.json`. Pure data, no I/O.

Sharded repodata lets clients such as pixi fetch only the packages they need: `repodata_shards.msgpack.zst`
maps each package name to the SHA-256 of its shard file, `shards/<sha256>.msgpack.zst`, which holds that
name's records. Shard files are content-addressed, so they are written once and never change; only the
small index is replaced. A stale index would hide packages from those clients, so the indexer and the
publisher rewrite it from the same repodata as `repodata.json` (see `index.sync_derived`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import msgpack
import zstandard

from .package import split_filename
from .repodata import ZSTD_LEVEL, Repodata

SHARDS_INDEX = "repodata_shards.msgpack.zst"
SHARDS_FOLDER = "shards"
RUN_EXPORTS = "run_exports.json"


@dataclass
class Shards:
    """A subdir's shard index and the shard files it names."""

    index: bytes
    #: hex sha256 -> compressed shard file, for every name in the index
    files: dict[str, bytes]
    #: package name -> hex sha256 of its shard
    names: dict[str, str]

    @staticmethod
    def key(subdir: str, digest: str) -> str:
        return f"{subdir}/{SHARDS_FOLDER}/{digest}.msgpack.zst"


def _pack(obj: Any) -> bytes:
    packed = msgpack.packb(obj, use_bin_type=True)
    assert isinstance(packed, bytes)
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(packed)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(zstandard.ZstdDecompressor().decompressobj().decompress(data), raw=False)


def _canonical(value: Any) -> Any:
    """`value` with every mapping's keys sorted: msgpack keeps insertion order, and equal records must give
    equal shard bytes (and so the same content address) however they were built."""
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _binary_hashes(record: dict[str, Any]) -> dict[str, Any]:
    """CEP-16 stores sha256 and md5 as raw bytes, not hex."""
    out: dict[str, Any] = _canonical(record)
    for field in ("sha256", "md5"):
        if isinstance(out.get(field), str):
            out[field] = bytes.fromhex(out[field])
    return out


def make_shards(repodata: Repodata, created_at: datetime | None = None) -> Shards:
    """Shard `repodata` by package name. The same records always give the same shard bytes and digests."""
    by_name: dict[str, dict[str, Any]] = {}

    def shard(name: str) -> dict[str, Any]:
        return by_name.setdefault(name, {"packages": {}, "packages.conda": {}, "removed": []})

    for table, records in (("packages", repodata.packages), ("packages.conda", repodata.packages_conda)):
        for filename, record in sorted(records.items()):
            shard(str(record.get("name") or split_filename(filename)[0]))[table][filename] = _binary_hashes(record)
    for filename in sorted(set(repodata.removed)):
        shard(split_filename(filename)[0])["removed"].append(filename)
    files: dict[str, bytes] = {}
    names: dict[str, str] = {}
    for name, content in sorted(by_name.items()):
        data = _pack(content)
        digest = hashlib.sha256(data).hexdigest()
        files[digest] = data
        names[name] = digest
    stamp = (created_at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    index = {
        "info": {
            "subdir": repodata.subdir,
            "base_url": "",
            "shards_base_url": f"./{SHARDS_FOLDER}/",
            "created_at": stamp,
        },
        "shards": {name: bytes.fromhex(digest) for name, digest in names.items()},
    }
    return Shards(index=_pack(index), files=files, names=names)


def read_shard_names(index: bytes) -> dict[str, str]:
    """Package name -> hex sha256 from a `repodata_shards.msgpack.zst`; empty if it cannot be read."""
    try:
        raw = _unpack(index)
        return {str(name): bytes(digest).hex() for name, digest in raw["shards"].items()}
    except (zstandard.ZstdError, ValueError, KeyError, TypeError, AttributeError, msgpack.UnpackException):
        return {}


def make_run_exports(repodata: Repodata) -> bytes:
    """`run_exports.json` (CEP-12): each package's run_exports, so builders need not download packages."""
    doc = {
        "info": {"subdir": repodata.subdir, "version": 1},
        "packages": {fn: {"run_exports": r.get("run_exports") or {}} for fn, r in sorted(repodata.packages.items())},
        "packages.conda": {
            fn: {"run_exports": r.get("run_exports") or {}} for fn, r in sorted(repodata.packages_conda.items())
        },
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
