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

from ..errors import NotFound
from .channels import Sources
from .lockfile import LockedPackage


def yanked_record(package: LockedPackage, sources: Sources) -> Any | None:
    """The py-rattler RepoDataRecord of `package` if its channel yanked it and kept the file, else None.

    Raises `SolveError` when the kept file is not the one the lockfile pinned (another sha256).
    """
    from rattler import PackageRecord, RepoDataRecord

    from ..channel.reading import read_package
    from ..channel.store import load_repodata
    from ..conda.repodata import make_record
    from ..storage import open_storage
    from ..storage.location import parse_channel

    root = package.channel + "/"
    if root in sources.s3_channels:
        channel = sources.s3_channels[root]
    elif root.lower().startswith("file:"):
        channel = parse_channel(package.channel)
    else:
        return None
    storage = open_storage(channel)
    repodata, _ = load_repodata(storage, package.subdir)
    info = storage.head(f"{package.subdir}/{package.filename}")
    if package.filename not in repodata.removed or info is None:
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
    return RepoDataRecord(record, package.filename, sources.located(package.url), sources.located(root))
