"""Channel health: what a client would trip over (missing files, unindexed files, drift, stale .zst)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...conda.package import is_package_filename
from ...conda.repodata import Repodata
from ...conda.validate import check_record
from ...errors import InvalidRepodata, PackageError
from ...storage import Storage, open_storage
from ...storage.conditions import recorded_problem
from ...storage.location import Channel
from ..commit import (
    IndexState,
    derived_problems,
    describe,
    discover_subdirs,
    find_leftovers,
    read_current,
    repodata_key,
)
from .dependencies import MIRROR_SPECS, missing_dependencies, summary
from .reading import read_package


@dataclass
class CheckReport:
    channel: str
    packages: int = 0
    problems: list[str] = field(default_factory=list)
    #: what is worth knowing but needs no fixing (commits `repodata.json` does not show yet)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_channel(channel: Channel | Storage, *, verify_hashes: bool = False) -> CheckReport:
    """Compare each subdir's repodata with the files present.

    Reports indexed files that are missing, package files that are not indexed (yanked ones excepted), size
    drift, files replaced since they were indexed (etag differs from the indexer's state), and a
    `repodata.json.zst`, shard index or `run_exports.json` that disagrees with `repodata.json`. With
    `verify_hashes`, every package is read and its sha256/md5 compared with its record.

    Packages whose dependencies the channel does not offer are a problem in a channel that keeps mirror specs
    (a mirror promises its closures are complete), and a note elsewhere (a studio channel's packages may rely
    on conda-forge beside it).
    """

    storage = open_storage(channel)
    report = CheckReport(storage.channel.url)
    unsafe = recorded_problem(storage)
    if unsafe:
        report.problems.append(unsafe)
    subdirs = discover_subdirs(storage)
    report.problems += [describe(leftover) for leftover in find_leftovers(storage)]
    offered: dict[str, dict[str, dict[str, Any]]] = {}
    for subdir in subdirs:
        key = repodata_key(subdir)
        try:
            current = read_current(storage, subdir)
        except InvalidRepodata as exc:
            report.problems.append(str(exc))
            continue
        if current.json is None:
            report.problems.append(f"{key}: missing; run `condafarm index`")
            continue
        repodata = current.repodata
        compacted = Repodata.from_json(current.json.data, subdir) if current.pending else repodata
        report.problems += derived_problems(
            storage, subdir, current.json.data, compacted, current.index, committed=current.committed, list_shards=True
        )[0]
        records: dict[str, dict[str, Any]] = repodata.records()
        if current.pending:
            waiting = len(set(records) - set(compacted.records()))
            report.notes.append(
                f"{key}: {waiting} package(s) committed to the shards (rattler, pixi see them) are not in it yet "
                "(conda sees them after the next `condafarm index`)"
            )
        report.problems += [
            f"{subdir}/{name}: named by {key} but not committed; run `condafarm index`"
            for name in sorted(set(compacted.records()) - set(records))
        ]
        report.packages += len(records)
        offered[subdir] = records
        listing = {i.name: i for i in storage.list_objects(f"{subdir}/") if is_package_filename(i.name)}
        index_state = IndexState.load(storage, subdir)
        state = index_state.files
        for name, record in sorted(records.items()):
            info = listing.get(name)
            where = f"{subdir}/{name}"
            try:
                check_record(record, None, name)
            except PackageError as exc:
                report.problems.append(
                    f"{where}: clients cannot read its record ({exc}); run `condafarm index --rebuild`"
                )
            if info is None:
                report.problems.append(f"{where}: indexed but the file is missing")
                continue
            if info.size != record.get("size"):
                report.problems.append(f"{where}: size is {info.size}, repodata says {record.get('size')}")
                continue
            seen = state.get(name)
            if seen is not None and seen.etag != info.etag and seen.sha256 == record.get("sha256"):
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
            skip = index_state.skipped.get(name)
            if skip is not None and skip.etag == listing[name].etag:
                report.problems.append(f"{subdir}/{name}: not indexed: {skip.reason}; fix or remove the file")
            else:
                report.problems.append(f"{subdir}/{name}: present but not indexed; run `condafarm index`")
    _check_dependencies(storage, offered, report)
    return report


#: Missing dependencies listed one by one in a mirror's check; more are counted.
SHOWN_MISSING = 20


def _check_dependencies(storage: Storage, offered: dict[str, dict[str, dict[str, Any]]], report: CheckReport) -> None:
    missing = missing_dependencies(offered)
    if not missing:
        return
    if storage.head(MIRROR_SPECS) is None:
        report.notes.append(summary(missing))
        return
    fix = f"run `condafarm mirror --to {storage.channel.url}`"
    report.problems += [f"{m}; {fix}" for m in missing[:SHOWN_MISSING]]
    if len(missing) > SHOWN_MISSING:
        report.problems.append(f"{len(missing) - SHOWN_MISSING} more missing dependencies; {fix}")
