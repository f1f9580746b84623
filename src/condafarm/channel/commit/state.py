"""What the indexer remembers between runs (`SUBDIR/.condafarm/index-state.json`), so it reads only new files.

Only a cache: anything missing or stale here costs a re-read, never a wrong record.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from ...conda.package import is_package_filename
from ...conda.repodata import repodata_key
from ...conda.shards import RUN_EXPORTS, SHARDS_INDEX
from ...side_file import BadSideFile, finite, mapping, parse
from ...storage import ObjectInfo, Storage

log = logging.getLogger(__name__)

STATE_KEY = ".condafarm/index-state.json"


@dataclass(frozen=True)
class FileState:
    """One indexed package file as the indexer saw it: a file with another etag is read again."""

    size: int
    etag: str
    sha256: str

    def proves(self, etag: str, size: int, record: dict[str, Any]) -> bool:
        """Whether the listed file (`etag`, `size`) is still the one `record` was made from."""
        return self.etag == etag and self.size == size == record.get("size") and self.sha256 == record.get("sha256")


@dataclass(frozen=True)
class Skipped:
    """A package file the indexer could not index, and why (so `check` can say why, not "run index")."""

    etag: str
    reason: str


@dataclass
class IndexState:
    """Per indexed file its size, etag and sha256; the etags of the repodata files the indexer last wrote;
    and since when each unreferenced shard file has been unreferenced."""

    files: dict[str, FileState] = field(default_factory=dict)
    json_etag: str | None = None
    zst_etag: str | None = None
    shards_etag: str | None = None
    orphan_shards: dict[str, float] = field(default_factory=dict)
    #: the shard files the shard index with `shards_etag` names
    shard_digests: list[str] = field(default_factory=list)
    skipped: dict[str, Skipped] = field(default_factory=dict)
    #: The Cache-Control rule (`storage.cache_control.VERSION`) the subdir's changing objects were corrected to.
    cache_headers: int = 0
    #: When, by the store's clock, the shard folder was last listed for orphans (`derived.track_shards`).
    swept: float = 0.0
    #: `run_exports.json`'s etag, as `zst_etag`: a derived file removed or damaged behind our back is repaired.
    exports_etag: str | None = None

    def derived_keys(self, subdir: str) -> dict[str, str | None]:
        """The subdir's changing objects this state names, by key: what the run that saved it left there."""
        json_key, index_key = repodata_key(subdir), f"{subdir}/{SHARDS_INDEX}"
        return {
            json_key: self.json_etag,
            f"{json_key}.zst": self.zst_etag,
            index_key: self.shards_etag,
            f"{subdir}/{RUN_EXPORTS}": self.exports_etag,
        }

    def proves_unchanged(self, subdir: str, listed: dict[str, ObjectInfo]) -> bool:
        """Whether the subdir, listed as `listed` (key -> object), is exactly as the run that saved this state
        left it: `repodata.json`, its `.zst` and the shard index with the etags that run wrote or proved, and the
        same package files with the same etags and sizes (the indexed ones, and the ones it could not index).

        Then there is nothing to index: every record of that `repodata.json` was made from one of these files,
        and no publisher or curator committed since (a commit replaces the shard index, a yank `repodata.json`).
        """
        derived = self.derived_keys(subdir)
        if None in derived.values() or any(
            (listed.get(key) or ObjectInfo(key, 0, "")).etag != etag for key, etag in derived.items()
        ):
            return False
        packages = {info.name: info for info in listed.values() if is_package_filename(info.name)}
        if packages.keys() != self.files.keys() | self.skipped.keys():
            return False
        return all(self._same(name, info) for name, info in packages.items())

    def _same(self, name: str, info: ObjectInfo) -> bool:
        """Whether the listed package file is the one this state saw (indexed, or found unreadable)."""
        seen, skip = self.files.get(name), self.skipped.get(name)
        if seen is not None:
            return (seen.etag, seen.size) == (info.etag, info.size)
        return skip is not None and skip.etag == info.etag

    @classmethod
    def load(cls, storage: Storage, subdir: str) -> IndexState:
        blob = storage.get(f"{subdir}/{STATE_KEY}")
        if blob is None:
            return cls()
        where = storage.channel.url_of(f"{subdir}/{STATE_KEY}")
        return parse(blob.data, where, cls._shape, otherwise="re-reading every package once", limit=None) or cls()

    @classmethod
    def _shape(cls, value: Any) -> IndexState:
        raw = mapping(value, "the state")
        etags = [raw.get(k) for k in ("json_etag", "zst_etag", "shards_etag", "exports_etag")]
        if not all(e is None or isinstance(e, str) for e in etags):
            raise BadSideFile("an etag is not a string")
        orphans = {
            str(d): finite(t, "an orphan's time") for d, t in mapping(raw.get("orphan_shards") or {}, "orphans").items()
        }
        digests = raw.get("shard_digests") or []
        if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests):
            raise BadSideFile("`shard_digests` is not a list of strings")
        return cls(
            {name: FileState(int(f["size"]), str(f["etag"]), str(f["sha256"])) for name, f in raw["files"].items()},
            etags[0],
            etags[1],
            etags[2],
            orphans,
            list(digests),
            {name: Skipped(str(s["etag"]), str(s["reason"])) for name, s in (raw.get("skipped") or {}).items()},
            headers if isinstance(headers := raw.get("cache_headers"), int) and not isinstance(headers, bool) else 0,
            finite(raw.get("swept", 0.0), "the last sweep's time"),
            etags[3],
        )

    def save(self, storage: Storage, subdir: str) -> None:
        raw = {
            "version": 1,
            # Not `asdict`, which deep-copies each record: ~12 us each, for thousands of files.
            "files": {name: {"size": f.size, "etag": f.etag, "sha256": f.sha256} for name, f in self.files.items()},
            "json_etag": self.json_etag,
            "zst_etag": self.zst_etag,
            "shards_etag": self.shards_etag,
            "orphan_shards": self.orphan_shards,
            "shard_digests": self.shard_digests,
            "skipped": {name: asdict(s) for name, s in self.skipped.items()},
            "cache_headers": self.cache_headers,
            "swept": self.swept,
            "exports_etag": self.exports_etag,
        }
        data = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
        storage.put(f"{subdir}/{STATE_KEY}", data, content_type="application/json")
