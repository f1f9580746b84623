"""Files derived from a subdir's repodata: CEP-16 shards and CEP-12 `run_exports.json`. Pure data, no I/O.

Sharded repodata lets clients such as pixi fetch only the packages they need: `repodata_shards.msgpack.zst`
maps each package name to the SHA-256 of its shard file, `shards/<sha256>.msgpack.zst`, which holds that
name's records. Shard files are content-addressed, so they are written once and never change; only the
small index is replaced. A stale index would hide packages from those clients, so the indexer and the
publisher commit records to it first; `repodata.json` follows (see `channel/commit/store.py`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgpack
import zstandard

from .package import split_filename
from .repodata import ZSTD_LEVEL, Repodata

SHARDS_INDEX = "repodata_shards.msgpack.zst"
SHARDS_FOLDER = "shards"
RUN_EXPORTS = "run_exports.json"
#: Key in the shard index's `info` saying condafarm commits records to it (see `channel/commit/store.py`).
COMMIT_POINT = "condafarm_commit_point"


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


#: The most a shard index or shard may unpack to. Both are a few MB in the largest channels (~60 bytes per name
#: in an index, one name's builds in a shard); a few KB of zstd can claim gigabytes, which would end a render host.
MAX_UNPACKED = 256 << 20


#: What reading a shard index or shard that is not one raises.
UNREADABLE = (zstandard.ZstdError, ValueError, KeyError, TypeError, AttributeError, msgpack.UnpackException)


def _unpack(data: bytes) -> Any:
    """The msgpack object in zstd `data`; ValueError if it unpacks to more than `MAX_UNPACKED` bytes."""
    with zstandard.ZstdDecompressor().stream_reader(data) as reader:
        unpacked = reader.read(MAX_UNPACKED + 1)
    if len(unpacked) > MAX_UNPACKED:
        raise ValueError(f"it unpacks to more than {MAX_UNPACKED >> 20} MiB")
    return msgpack.unpackb(unpacked, raw=False)


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
    for key in ("sha256", "md5"):
        if isinstance(out.get(key), str):
            out[key] = bytes.fromhex(out[key])
    return out


@dataclass
class NameRecords:
    """Everything one package name has in a subdir: the content of its shard."""

    packages: dict[str, dict[str, Any]] = field(default_factory=dict)
    packages_conda: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def copy(self) -> NameRecords:
        return NameRecords(dict(self.packages), dict(self.packages_conda), list(self.removed))

    def filenames(self) -> set[str]:
        return {*self.packages, *self.packages_conda, *self.removed}

    def get(self, filename: str) -> dict[str, Any] | None:
        return (self.packages_conda if filename.endswith(".conda") else self.packages).get(filename)

    def set(self, filename: str, record: dict[str, Any]) -> None:
        """Put a record in (un-yanking its filename)."""
        (self.packages_conda if filename.endswith(".conda") else self.packages)[filename] = record
        self.removed = [n for n in self.removed if n != filename]

    def pack(self) -> bytes:
        """The shard file: canonical, so equal records give equal bytes (and the same content address)."""
        return _pack(
            {
                "packages": {fn: _binary_hashes(r) for fn, r in sorted(self.packages.items())},
                "packages.conda": {fn: _binary_hashes(r) for fn, r in sorted(self.packages_conda.items())},
                "removed": sorted(set(self.removed)),
            }
        )


def record_name(filename: str, record: dict[str, Any] | None = None) -> str:
    """The package name a filename's record is sharded under."""
    return str((record or {}).get("name") or split_filename(filename)[0])


def by_name(repodata: Repodata) -> dict[str, NameRecords]:
    """`repodata` split by package name, as its shards hold it."""
    out: dict[str, NameRecords] = {}
    for filename, record in repodata.packages.items():
        out.setdefault(record_name(filename, record), NameRecords()).packages[filename] = record
    for filename, record in repodata.packages_conda.items():
        out.setdefault(record_name(filename, record), NameRecords()).packages_conda[filename] = record
    for filename in set(repodata.removed):
        out.setdefault(record_name(filename), NameRecords()).removed.append(filename)
    return out


def make_shards(repodata: Repodata, created_at: datetime | None = None) -> Shards:
    """Shard `repodata` by package name. The same records always give the same shard bytes and digests."""
    files: dict[str, bytes] = {}
    names: dict[str, str] = {}
    for name, content in sorted(by_name(repodata).items()):
        data = content.pack()
        digest = hashlib.sha256(data).hexdigest()
        files[digest] = data
        names[name] = digest
    return Shards(index=make_index(repodata.subdir, names, created_at), files=files, names=names)


def make_index(subdir: str, names: dict[str, str], created_at: datetime | None = None) -> bytes:
    """A shard index naming `names` (package name -> hex sha256), marked as condafarm's commit point."""
    stamp = (created_at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    index = {
        "info": {
            "subdir": subdir,
            "base_url": "",
            "shards_base_url": f"./{SHARDS_FOLDER}/",
            "created_at": stamp,
            COMMIT_POINT: 1,
        },
        "shards": {name: bytes.fromhex(digest) for name, digest in sorted(names.items())},
    }
    return _pack(index)


def read_index(index: bytes) -> tuple[dict[str, str], bool]:
    """Package name -> hex sha256 from a `repodata_shards.msgpack.zst`, and whether condafarm commits to it
    (else another tool or an older condafarm wrote it after `repodata.json`). Empty if it cannot be read."""
    try:
        raw = _unpack(index)
        names = {str(name): _digest(digest) for name, digest in raw["shards"].items()}
        return names, bool(raw.get("info", {}).get(COMMIT_POINT))
    except UNREADABLE:
        return {}, False


def _digest(value: Any) -> str:
    """A shard's sha256 as the index holds it (32 bytes), in hex; a number there would be taken by `bytes()` as
    a length (2**33 would allocate 8 GiB), a longer value would name no file."""
    if not isinstance(value, bytes) or len(value) != hashlib.sha256().digest_size:
        raise ValueError(f"{value!r:.40} is not a sha256")
    return value.hex()


def read_shard_names(index: bytes) -> dict[str, str]:
    """Package name -> hex sha256 from a `repodata_shards.msgpack.zst`; empty if it cannot be read."""
    return read_index(index)[0]


def read_shard(data: bytes) -> NameRecords:
    """A shard file's records, with sha256/md5 back in hex as `repodata.json` has them."""
    raw = _unpack(data)
    tables = []
    for table in ("packages", "packages.conda"):
        records = {}
        for filename, record in raw.get(table, {}).items():
            records[str(filename)] = {
                k: (v.hex() if k in ("sha256", "md5") and isinstance(v, bytes) else v) for k, v in record.items()
            }
        tables.append(records)
    return NameRecords(tables[0], tables[1], [str(n) for n in raw.get("removed", [])])


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
