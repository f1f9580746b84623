"""Repodata as pure data: package records, `repodata.json` and `repodata.json.zst` bytes. No I/O here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import zstandard

from ..errors import InvalidRepodata
from .package import Hashes, PackageMetadata

#: zstd level for `repodata.json.zst`: every publish rewrites the file and clients cache it by ETag, so a fast
#: level wins over a slightly smaller file (figures in bench/README.md).
ZSTD_LEVEL = 3


def repodata_key(subdir: str) -> str:
    """Where a subdir's `repodata.json` lives, relative to the channel root."""
    return f"{subdir}/repodata.json"


#: Record fields that `index.json` must not override: the index computes them.
COMPUTED_FIELDS = ("md5", "sha256", "size")


def make_record(
    index: dict[str, Any], metadata: PackageMetadata, hashes: Hashes, indexed_timestamp: int
) -> dict[str, Any]:
    """A repodata record: the package's index.json plus hashes, size, run_exports and when it was indexed.

    `indexed_timestamp` (milliseconds, as rattler writes it) is when the filename first entered the index.
    """
    record = {k: v for k, v in index.items() if k not in COMPUTED_FIELDS}
    record["md5"] = hashes.md5
    record["sha256"] = hashes.sha256
    record["size"] = hashes.size
    if metadata.run_exports:
        record["run_exports"] = metadata.run_exports
    record["indexed_timestamp"] = indexed_timestamp
    return record


@dataclass
class Repodata:
    """One subdir's `repodata.json`. Records are keyed by filename, split by format as conda expects."""

    subdir: str
    packages: dict[str, dict[str, Any]] = field(default_factory=dict)
    packages_conda: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def records(self) -> dict[str, dict[str, Any]]:
        """Every record, `.tar.bz2` and `.conda`, by filename."""
        return {**self.packages, **self.packages_conda}

    def get(self, filename: str) -> dict[str, Any] | None:
        table = self.packages_conda if filename.endswith(".conda") else self.packages
        return table.get(filename)

    def set(self, filename: str, record: dict[str, Any]) -> None:
        table = self.packages_conda if filename.endswith(".conda") else self.packages
        table[filename] = record

    def pop(self, filename: str) -> dict[str, Any] | None:
        table = self.packages_conda if filename.endswith(".conda") else self.packages
        return table.pop(filename, None)

    def to_dict(self) -> dict[str, Any]:
        info = dict(self.extra.get("info") or {})
        info["subdir"] = self.subdir
        out: dict[str, Any] = {k: v for k, v in self.extra.items() if k != "info"}
        out.update(
            {
                "info": info,
                "packages": self.packages,
                "packages.conda": self.packages_conda,
                "removed": sorted(set(self.removed)),
                "repodata_version": 1,
            }
        )
        return out

    def to_json(self) -> bytes:
        """Compact, key-sorted JSON: the same records always give the same bytes (and the same ETag)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes, subdir: str) -> Repodata:
        """Parse `repodata.json`, keeping keys we do not manage (`base_url`, `v3`...) untouched.

        Raises `InvalidRepodata` for anything a client could not read as repodata (not JSON, not an object,
        tables or records of the wrong type), naming the first problem.
        """
        where = f"{subdir}/repodata.json"
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise InvalidRepodata(f"{where} is not valid JSON ({exc})") from exc
        if not isinstance(raw, dict):
            raise InvalidRepodata(f"{where} is not a JSON object but {type(raw).__name__}")
        tables = {}
        for table in ("packages", "packages.conda"):
            records = raw.get(table, {})
            if not isinstance(records, dict):
                raise InvalidRepodata(f"{where}: {table!r} is {type(records).__name__}, not an object of records")
            for filename, record in records.items():
                problem = record_problem(record)
                if problem:
                    raise InvalidRepodata(f"{where}: record {filename!r} {problem}")
            tables[table] = dict(records)
        removed = raw.get("removed", [])
        if not isinstance(removed, list) or not all(isinstance(n, str) for n in removed):
            raise InvalidRepodata(f"{where}: 'removed' is not a list of filenames")
        if not isinstance(raw.get("info", {}), dict):
            raise InvalidRepodata(f"{where}: 'info' is not an object")
        extra = {k: v for k, v in raw.items() if k not in ("packages", "packages.conda", "removed", "repodata_version")}
        return cls(subdir, tables["packages"], tables["packages.conda"], list(removed), extra)


#: Record fields every client needs, and the optional ones it reads, with the JSON types they must have.
_REQUIRED: dict[str, type] = {"name": str, "version": str, "build": str, "build_number": int}
_OPTIONAL: dict[str, type] = {"depends": list, "constrains": list, "sha256": str, "md5": str, "size": int}


def record_problem(record: Any) -> str | None:
    """What makes `record` unreadable as a repodata record for conda and rattler, or None.

    Runs for every record each time repodata is read, so the common case (all fields of the right type) is a
    few exact type checks; only a record that fails them is looked at field by field for the message.
    """
    if type(record) is not dict:
        return f"is {type(record).__name__}, not an object"
    get = record.get
    if (
        type(get("name")) is str
        and type(get("version")) is str
        and type(get("build")) is str
        and type(get("build_number")) is int
        and type(get("depends", [])) is list
        and type(get("constrains", [])) is list
        and type(get("sha256", "")) is str
        and type(get("md5", "")) is str
        and type(get("size", 0)) is int
        and all(type(spec) is str for spec in get("depends", ()))
        and all(type(spec) is str for spec in get("constrains", ()))
    ):
        return None
    return _field_problem(record)


def _field_problem(record: dict[str, Any]) -> str | None:
    for key, kind in (*_REQUIRED.items(), *_OPTIONAL.items()):
        value = record.get(key)
        if value is None and key in _OPTIONAL:
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"has {key}={value!r}, not a {kind.__name__}"
    for key in ("depends", "constrains"):
        if not all(isinstance(spec, str) for spec in record.get(key) or []):
            return f"has {key} that are not all strings"
    return None  # only optional fields set to null: readable


def compress(json_bytes: bytes) -> bytes:
    """`repodata.json.zst`: one zstd frame that records its content size, as conda and rattler expect."""
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True).compress(json_bytes)


def decompress(zst_bytes: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompressobj().decompress(zst_bytes)
