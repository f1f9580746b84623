"""Yanked packages, still installable by exact file and sha256: a yank (by a person or a prune) takes a record
out of the index but keeps the file, listed in `removed`, so lockfiles and job records that pinned it go on
installing while new solves ignore it.

The index no longer holds the record, so it is read back from the file itself, in folder and S3 channels (an
https channel offers no way to tell a yanked file from a stray one, so there a yanked file is not found).
Only a name in the subdir's `removed` list is looked up: a file the channel never indexed stays invisible.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ...errors import NotFound
from ...storage import Storage
from ..request import LockedPackage
from .channels import Sources


class YankedFiles:
    """Finds yanked files in `sources`' channels, reading each subdir's `removed` list once."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self._subdirs: dict[tuple[str, str], tuple[Storage, set[str]] | None] = {}

    def _subdir(self, channel: str, subdir: str) -> tuple[Storage, set[str]] | None:
        """The storage of a folder or S3 `channel` and the names its `subdir` yanked; None for other channels."""
        from ...channel.commit import load_repodata
        from ...storage import open_storage
        from ...storage.location import Kind, classify

        if (channel, subdir) not in self._subdirs:
            root = channel + "/"
            if root in self.sources.s3_channels:
                storage: Storage | None = open_storage(self.sources.s3_channels[root])
            elif (location := classify(channel)).kind is Kind.FOLDER and location.is_url:
                storage = open_storage(location.channel())
            else:
                storage = None
            removed = set(load_repodata(storage, subdir)[0].removed) if storage else set()
            self._subdirs[channel, subdir] = (storage, removed) if storage else None
        return self._subdirs[channel, subdir]

    def record(self, package: LockedPackage) -> Any | None:
        """The py-rattler RepoDataRecord of `package` if its channel yanked it and kept the file, else None.

        Raises `SolveError` when the kept file is not the one the lockfile pinned (another sha256).
        """
        from rattler import PackageRecord, RepoDataRecord

        from ...channel.read import read_package
        from ...conda.repodata import make_record

        found = self._subdir(package.channel, package.subdir)
        if found is None or package.filename not in found[1]:
            return None
        storage = found[0]
        info = storage.head(f"{package.subdir}/{package.filename}")
        if info is None:
            return None
        try:
            index, metadata, hashes = read_package(storage, info, package.subdir)
        except NotFound:
            return None
        if hashes.sha256 != package.sha256:
            raise package.changed()
        with tempfile.TemporaryDirectory(prefix="condafarm-yanked-") as tmp:
            index_json = Path(tmp, "index.json")
            index_json.write_text(json.dumps(make_record(index, metadata, hashes, 0)), encoding="utf-8")
            record = PackageRecord.from_index_json(index_json, hashes.size, hashes.sha256, hashes.md5)
        url, channel = self.sources.located(package.url), self.sources.located(package.channel + "/")
        return RepoDataRecord(record, package.filename, url, channel)
