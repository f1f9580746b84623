"""A folder channel read through its CEP-16 shards, as py-rattler reads S3 and HTTP channels.

py-rattler reads only `repodata.json` from `file://` channels, which costs a render host the whole file (tens of MB
on a network share in a large channel) and, in a subdir too large for publish to compact, misses what was
published since the last compaction. This source hands py-rattler the records of the names it asks for from
their shards (each checked against the digest the shard index gives it), and falls back to `repodata.json`,
read lazily by py-rattler itself, in a subdir without a shard index. The shard indexes and shards are read as
every file of a folder channel is (`LocalStorage.get`): a fifo, a device or a symlink out of the channel planted
in their place is refused, never read (a fifo would keep the session waiting for good).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from ...conda.repodata import Repodata
from ...conda.shards import SHARDS_INDEX, UNREADABLE, Shards, read_index, read_shard
from ...errors import CondafarmError, InvalidRepodata
from ...storage.local import LocalStorage
from ...storage.location import Channel


class FolderShards:
    """A py-rattler `RepoDataSource` over the folder channel `folder`."""

    def __init__(self, folder: Channel) -> None:
        import rattler

        assert folder.path is not None
        self.root, self.url = folder.path, folder.url
        self.storage = LocalStorage(folder)
        self.channel = rattler.Channel(self.url)
        self._indexes: dict[str, dict[str, str] | None] = {}
        self._sparse: dict[str, Any] = {}
        #: What made a fetch fail: py-rattler passes on only its text, and the caller raises it whole.
        self.failure: CondafarmError | None = None

    def __str__(self) -> str:
        return self.url

    @staticmethod
    def has_shards(root: Path) -> bool:
        """Whether the folder channel at `root` has a shard index (condafarm writes one in every subdir)."""
        return (root / "noarch" / SHARDS_INDEX).is_file()

    def _index(self, subdir: str) -> dict[str, str] | None:
        """Package name -> shard digest of `subdir`, or None where it has no (readable) shard index."""
        if subdir not in self._indexes:
            blob = self._get(f"{subdir}/{SHARDS_INDEX}")
            names = read_index(blob.data)[0] if blob is not None else {}
            self._indexes[subdir] = names or None
        return self._indexes[subdir]

    def _repodata(self, subdir: str) -> Any:
        """py-rattler's lazy reader of `subdir/repodata.json`, or None where there is none."""
        if subdir not in self._sparse:
            import rattler

            path = self.root / subdir / "repodata.json"
            self._sparse[subdir] = rattler.SparseRepoData(self.channel, subdir, path) if path.is_file() else None
        return self._sparse[subdir]

    def package_names(self, platform: Any) -> list[str]:
        subdir = str(platform)
        index = self._index(subdir)
        if index is not None:
            return sorted(index)
        sparse = self._repodata(subdir)
        return list(sparse.package_names()) if sparse is not None else []

    def _get(self, key: str) -> Any:
        """The file at `key`, or None; a planted fifo, device or link out of the channel raises `AccessDenied`."""
        try:
            return self.storage.get(key)
        except CondafarmError as exc:
            self.failure = exc
            raise

    async def fetch_package_records(self, platform: Any, name: Any) -> list[Any]:
        try:
            return self._fetch(str(platform), name)
        except InvalidRepodata as exc:
            self.failure = exc
            raise

    def _fetch(self, subdir: str, name: Any) -> list[Any]:
        wanted = name.normalized
        index = self._index(subdir)
        if index is None:
            sparse = self._repodata(subdir)
            return list(sparse.load_records(name)) if sparse is not None else []
        digest = index.get(wanted)
        if digest is None:
            return []
        key = Shards.key(subdir, digest)
        blob = self._get(key)
        if blob is None:
            raise InvalidRepodata(
                f"{self.url}/{key} (the shard of {wanted}) cannot be read: it is missing; run `condafarm index` "
                "on the channel"
            )
        data = blob.data
        if hashlib.sha256(data).hexdigest() != digest:
            raise InvalidRepodata(
                f"{self.url}/{key} (the shard of {wanted}) is not the file its shard index names (sha256 differs); "
                "run `condafarm index` on the channel"
            )
        try:
            records = read_shard(data)
        except UNREADABLE as exc:
            raise InvalidRepodata(
                f"{self.url}/{key} (the shard of {wanted}) cannot be unpacked; run `condafarm index --rebuild` on the "
                "channel"
            ) from exc
        if any("/" in filename or "\\" in filename for filename in records.filenames()):
            raise InvalidRepodata(
                f"{self.url}/{key} (the shard of {wanted}) names a file outside {subdir}/; run `condafarm index` "
                "on the channel"
            )
        return self._records(Repodata(subdir=subdir, packages=records.packages, packages_conda=records.packages_conda))

    def _records(self, repodata: Repodata) -> list[Any]:
        """`repodata` as py-rattler records of this channel, parsed by py-rattler as it parses `repodata.json`."""
        import rattler

        with tempfile.TemporaryDirectory(prefix="condafarm-shard-") as tmp:
            path = Path(tmp, "repodata.json")
            path.write_text(json.dumps(repodata.to_dict()), encoding="utf-8")
            return list(rattler.RepoData.from_path(path).into_repo_data(self.channel))
