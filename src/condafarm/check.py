"""Channel health: what a client would trip over (missing files, unindexed files, drift, stale .zst)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .channel import Channel
from .errors import PackageError
from .index import IndexState, discover_subdirs, repodata_key, zst_matches
from .package import is_package_filename
from .repodata import Repodata
from .shards import RUN_EXPORTS, SHARDS_FOLDER, SHARDS_INDEX, make_run_exports, make_shards, read_shard_names
from .storage import Storage, open_storage


@dataclass
class CheckReport:
    channel: str
    packages: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_channel(channel: Channel | Storage, *, verify_hashes: bool = False) -> CheckReport:
    """Compare each subdir's repodata with the files present.

    Reports indexed files that are missing, package files that are not indexed (yanked ones excepted), size
    drift, files replaced since they were indexed (etag differs from the indexer's state), and a
    `repodata.json.zst`, shard index or `run_exports.json` that disagrees with `repodata.json`. With
    `verify_hashes`, every package is read and its sha256/md5 compared with its record.
    """
    from .index import read_package

    storage = channel if isinstance(channel, Storage) else open_storage(channel)
    report = CheckReport(storage.channel.url)
    for subdir in discover_subdirs(storage):
        key = repodata_key(subdir)
        blob = storage.get(key)
        if blob is None:
            report.problems.append(f"{key}: missing; run `condafarm index`")
            continue
        zst = storage.get(key + ".zst")
        if zst is None:
            report.problems.append(f"{key}.zst: missing; run `condafarm index`")
        elif not zst_matches(zst.data, blob.data):
            report.problems.append(f"{key}.zst: does not match {key}; run `condafarm index`")
        repodata = Repodata.from_json(blob.data, subdir)
        report.problems += _derived_problems(storage, subdir, repodata)
        records: dict[str, dict[str, Any]] = repodata.records()
        report.packages += len(records)
        listing = {i.name: i for i in storage.list_objects(f"{subdir}/") if is_package_filename(i.name)}
        state = IndexState.load(storage, subdir).files
        for name, record in sorted(records.items()):
            info = listing.get(name)
            where = f"{subdir}/{name}"
            if info is None:
                report.problems.append(f"{where}: indexed but the file is missing")
                continue
            if info.size != record.get("size"):
                report.problems.append(f"{where}: size is {info.size}, repodata says {record.get('size')}")
                continue
            seen = state.get(name)
            if seen is not None and seen.get("etag") != info.etag and seen.get("sha256") == record.get("sha256"):
                report.problems.append(f"{where}: file was replaced after it was indexed; run `condafarm index`")
            if verify_hashes:
                try:
                    _, _, hashes = read_package(storage, info, subdir)
                except PackageError as exc:
                    report.problems.append(f"{where}: unreadable: {exc}")
                    continue
                if (hashes.sha256, hashes.md5) != (record.get("sha256"), record.get("md5")):
                    report.problems.append(f"{where}: sha256/md5 differ from repodata; run `condafarm index`")
        for name in sorted(set(listing) - set(records) - set(repodata.removed)):
            report.problems.append(f"{subdir}/{name}: present but not indexed; run `condafarm index`")
    return report


def _derived_problems(storage: Storage, subdir: str, repodata: Repodata) -> list[str]:
    """Where the CEP-16 shards or `run_exports.json` disagree with `repodata.json`.

    A stale shard index hides packages from clients that read shards first (pixi), so it is checked name by
    name, and every shard file it names must exist.
    """
    fix = "run `condafarm index`"
    index = storage.get(f"{subdir}/{SHARDS_INDEX}")
    if index is None:
        return [f"{subdir}/{SHARDS_INDEX}: missing; {fix}"]
    problems = []
    expected, found = make_shards(repodata).names, read_shard_names(index.data)
    for name in sorted(set(expected) | set(found)):
        if expected.get(name) != found.get(name):
            problems.append(f"{subdir}/{SHARDS_INDEX}: shard of {name!r} disagrees with repodata.json; {fix}")
    present = {i.name.removesuffix(".msgpack.zst") for i in storage.list_objects(f"{subdir}/{SHARDS_FOLDER}/")}
    problems += [
        f"{subdir}/{SHARDS_FOLDER}/{digest}.msgpack.zst: named by the shard index but missing; {fix}"
        for digest in sorted(set(found.values()) - present)
    ]
    run_exports = storage.get(f"{subdir}/{RUN_EXPORTS}")
    if run_exports is None or run_exports.data != make_run_exports(repodata):
        problems.append(f"{subdir}/{RUN_EXPORTS}: missing or disagrees with repodata.json; {fix}")
    return problems
