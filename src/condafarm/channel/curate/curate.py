"""Changing what a channel offers after publishing: yank, remove, and copy (promote) between channels.

Each change is a compare-and-swap on the subdir's repodata, like publish. Yank keeps the file (lockfiles that
pinned it still install); remove deletes it, after its record is gone, so repodata never names a missing file.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ...conda.package import is_package_filename
from ...conda.repodata import Repodata
from ...errors import AlreadyExists, NotFound, UsageError
from ...storage import Storage, open_storage
from ...storage.conditions import ensure_conditional_writes
from ...storage.location import Channel
from ..commit import discover_subdirs, init_channel, load_repodata, repodata_key, update_repodata
from ..page import keep_page_current
from ..provenance import provenance_key, read_many, read_provenance, write_provenance
from ..publish import publish
from ..read import list_packages


@dataclass
class Curated:
    """What yank, remove or copy did: `subdir/filename` of each package changed."""

    channel: str
    changed: list[str] = field(default_factory=list)


def _locate(storage: Storage, filenames: list[str]) -> dict[str, list[str]]:
    """Group `filenames` (bare or `subdir/filename`) by the subdir whose repodata names them."""
    if not filenames:
        raise UsageError("name at least one package file, e.g. mytool-1.0-h0_0.conda")
    subdirs = discover_subdirs(storage)
    indexes = {s: load_repodata(storage, s)[0] for s in subdirs}
    found: dict[str, list[str]] = {}
    for given in filenames:
        subdir, _, name = given.rpartition("/")
        if not is_package_filename(name):
            raise UsageError(f"{given!r} is not a package filename (NAME-VERSION-BUILD.conda or .tar.bz2)")
        where = [s for s in ([subdir] if subdir else subdirs) if s in indexes and _named(indexes[s], name)]
        if not where:
            raise NotFound(f"{given} is not in the index of {storage.channel.url}; see `condafarm ls`")
        for s in where:
            found.setdefault(s, []).append(name)
    return found


def _named(repodata: Repodata, name: str) -> bool:
    return repodata.get(name) is not None or name in repodata.removed


def yank(channel: Channel | Storage, filenames: list[str]) -> Curated:
    """Take packages out of the index but keep their files, recording them in `removed`.

    Solvers stop picking them; lockfiles and explicit URLs that name them still work. Re-publishing a
    yanked name needs `--force`, because the file is still there.
    """
    storage = open_storage(channel)
    result = Curated(storage.channel.url)
    for subdir, names in _locate(storage, filenames).items():

        def change(repodata: Repodata, names: list[str] = names) -> None:
            for name in names:
                repodata.pop(name)
                if name not in repodata.removed:
                    repodata.removed.append(name)

        update_repodata(storage, subdir, change)
        result.changed += [f"{subdir}/{n}" for n in names]
    keep_page_current(storage)
    return result


def remove(channel: Channel | Storage, filenames: list[str], *, yes: bool = False) -> Curated:
    """Delete packages: their records first, then their files.

    The names stay in `removed` while the files are deleted, so an `index` running meanwhile does not put the
    records back from files about to vanish; a last update then forgets the names.
    """
    if not yes:
        raise UsageError(
            "remove deletes published files and breaks lockfiles that pin them; pass --yes to confirm, "
            "or use `condafarm yank` to hide them from solvers and keep the files"
        )
    storage = open_storage(channel)
    result = Curated(storage.channel.url)
    for subdir, names in _locate(storage, filenames).items():

        def tombstone(repodata: Repodata, names: list[str] = names) -> None:
            for name in names:
                repodata.pop(name)
            repodata.removed = sorted(set(repodata.removed) | set(names))

        def forget(repodata: Repodata, names: list[str] = names) -> None:
            repodata.removed = [n for n in repodata.removed if n not in names]

        update_repodata(storage, subdir, tombstone)
        for name in names:
            storage.delete(f"{subdir}/{name}")
            storage.delete(provenance_key(subdir, name))
        update_repodata(storage, subdir, forget)
        result.changed += [f"{subdir}/{n}" for n in names]
    keep_page_current(storage)
    return result


def copy_packages(source: Channel | Storage, destination: Channel | Storage, selectors: list[str]) -> Curated:
    """Copy packages, chosen by filename or match spec, from `source` to `destination` and index them there.

    Never overwrites: a name already in the destination raises `AlreadyExists` before anything is copied.
    Between buckets on the same S3 endpoint the bytes never leave S3 (server-side copy, keeping the hash
    metadata); otherwise each file is downloaded once and published.
    """
    src, dst = open_storage(source), open_storage(destination)
    filenames = [s for s in selectors if is_package_filename(s.rpartition("/")[2])]
    located = _locate(src, filenames) if filenames else {}
    chosen = {f"{subdir}/{name}" for subdir, names in located.items() for name in names}
    for spec in (s for s in selectors if s not in filenames):
        matches = list_packages(src, spec)
        if not matches:
            raise NotFound(f"no package in {src.channel.url} matches {spec!r}; see `condafarm ls`")
        chosen |= {f"{m.subdir}/{m.filename}" for m in matches}
    taken = sorted(k for k in chosen if dst.head(k) is not None)
    if taken:
        raise AlreadyExists(f"{dst.channel.url_of(taken[0])} already exists; published packages never change")
    ensure_conditional_writes(dst)
    if dst.can_copy_from(src):
        _copy_server_side(src, dst, sorted(chosen))
    else:
        _copy_through_here(src, dst, sorted(chosen))
    keep_page_current(dst)
    return Curated(dst.channel.url, sorted(chosen))


def _copy_server_side(src: Storage, dst: Storage, keys: list[str]) -> None:
    """Copy inside the store, then add the source's records; a failed copy removes the copies made before it."""
    by_subdir: dict[str, list[str]] = {}
    for key in keys:
        subdir, _, name = key.partition("/")
        by_subdir.setdefault(subdir, []).append(name)
    records = {subdir: load_repodata(src, subdir)[0] for subdir in by_subdir}
    copied: list[str] = []
    try:
        for key in keys:
            subdir, _, name = key.partition("/")
            if records[subdir].get(name) is None:
                raise NotFound(f"{src.channel.url_of(key)} left the index while copying")
            dst.copy_from(src, key, if_absent=True)
            copied.append(key)
            _carry_provenance(src, dst, subdir, name)
    except BaseException:
        for key in copied:
            dst.delete(key)
        raise
    for subdir, names in by_subdir.items():

        def change(repodata: Repodata, subdir: str = subdir, names: list[str] = names) -> None:
            for name in names:
                repodata.set(name, records[subdir].records()[name])

        update_repodata(dst, subdir, change)
    if dst.head(repodata_key("noarch")) is None:
        init_channel(dst)


def _copy_through_here(src: Storage, dst: Storage, keys: list[str]) -> None:
    """Download each file once into a temporary folder and publish them all (checked, never overwriting)."""
    with tempfile.TemporaryDirectory(prefix="condafarm-copy-") as tmp:
        files: list[Path] = []
        for key in keys:
            info = src.head(key)
            if info is None:
                raise NotFound(f"{src.channel.url_of(key)} is indexed but its file is missing; run `condafarm check`")
            path = Path(tmp, *key.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            with src.stream(info) as stream, open(path, "wb") as out:
                shutil.copyfileobj(stream, out, 8 * 1024 * 1024)
            files.append(path)
        found = read_many(src, [(key.partition("/")[0], key.partition("/")[2]) for key in keys])
        publish(dst, files, provenance={name: record for (_, name), record in found.items() if record is not None})


def _carry_provenance(src: Storage, dst: Storage, subdir: str, filename: str) -> None:
    """Copy a package's provenance record with it, so a promoted package still says who built it."""
    record = read_provenance(src, subdir, filename)
    if record is not None:
        write_provenance(dst, subdir, filename, record)


__all__ = ["Curated", "copy_packages", "remove", "yank"]
