"""Who made each package, from what, where and with which tools: a JSON record kept beside the package.

The record lives at `SUBDIR/.condafarm/provenance/FILENAME.json`, outside anything a conda client reads
(repodata records stay exactly what rattler and conda expect), costs a publish one PUT, and travels with the
package when `copy` promotes it to another channel. `condafarm build` records the recipe, sources, build host,
tools, farm job and times; `condafarm publish` of a prebuilt file records who published it, from where.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import platform
import socket
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFound
from ..side_file import MAX_BYTES, BadSideFile, mapping, parse, text_map
from ..storage import Storage, open_storage
from ..storage.location import Channel
from .read import Listed, list_packages

FOLDER = ".condafarm/provenance"
#: The worker agent's variables that say where a task runs.
DEADLINE_IDS = ("FARM", "QUEUE", "JOB", "SESSION", "TASK", "FLEET", "WORKER")

Provenance = dict[str, Any]


def provenance_key(subdir: str, filename: str) -> str:
    return f"{subdir}/{FOLDER}/{filename}.json"


def where_it_ran() -> dict[str, str]:
    """The Deadline Cloud farm, queue, job, session and task running this, or the user and host by hand."""
    ids = {
        name.lower(): os.environ[f"DEADLINE_{name}_ID"]
        for name in DEADLINE_IDS
        if os.environ.get(f"DEADLINE_{name}_ID")
    }
    if ids:
        return {"deadline_" + name: value for name, value in ids.items()}
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container with an unnamed uid)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {"user": user, "host": socket.gethostname()}


def _version(distribution: str) -> str | None:
    from importlib import metadata  # ~10 ms to import (email parsing): only a publish needs it, once

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _host_and_tools() -> tuple[dict[str, str], dict[str, str]]:
    """The host and tool versions (looking versions up scans site-packages: once per process)."""
    tools = {name: _version(name) for name in ("condafarm", "py-rattler-build", "py-rattler")}
    host = {"os": platform.system().lower(), "arch": platform.machine(), "python": platform.python_version()}
    return host, {name: version for name, version in tools.items() if version}


def environment() -> Provenance:
    """What every record says about the machine and tools that made it."""
    host, tools = _host_and_tools()
    return {"ran": where_it_ran(), "host": dict(host), "tools": dict(tools)}


def published_by(path: Path, sha256: str) -> Provenance:
    """The record of a prebuilt file published by hand or by a job: who, where, when, from which file."""
    return {
        "kind": "published",
        "file": {"name": path.name, "sha256": sha256},
        "at": _now(),
        **environment(),
    }


def mirrored_from(upstream: str, url: str, sha256: str, size: int) -> Provenance:
    """The record of a file `condafarm mirror` copied: from which upstream channel and URL, when, by whom."""
    return {
        "kind": "mirrored",
        "from": {"channel": upstream, "url": url},
        "file": {"name": url.rsplit("/", 1)[-1], "sha256": sha256, "size": size},
        "at": _now(),
        **environment(),
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_provenance(storage: Storage, subdir: str, filename: str, provenance: Provenance) -> None:
    data = json.dumps(provenance, indent=1, sort_keys=True).encode()
    storage.put(provenance_key(subdir, filename), data, content_type="application/json")


def read_provenance(storage: Storage, subdir: str, filename: str) -> Provenance | None:
    """The package's record, or None where it has none (published before provenance existed, or by another tool)."""
    blob = storage.get(provenance_key(subdir, filename), limit=MAX_BYTES)
    if blob is None:
        return None
    return parse(blob.data, storage.channel.url_of(provenance_key(subdir, filename)), _shape, otherwise="ignored")


def _shape(value: Any) -> Provenance:
    """A record as `summary` and `info` read it: an object whose `ran` is an object of strings, `kind` a string."""
    record = mapping(value, "the record")
    if "ran" in record:
        text_map(record["ran"], "`ran`")
    if not isinstance(record.get("kind", ""), str):
        raise BadSideFile("`kind` is not a string")
    return record


def read_many(storage: Storage, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Provenance | None]:
    """Records of many packages (`(subdir, filename)` pairs), read concurrently."""
    wanted = list(keys)
    with ThreadPoolExecutor(max_workers=storage.read_threads) as pool:
        found = pool.map(lambda key: read_provenance(storage, *key), wanted)
        return dict(zip(wanted, found, strict=True))


@dataclass(frozen=True)
class Described:
    """A package of a channel (`list_packages`) with its provenance record (None: none recorded)."""

    listed: Listed
    provenance: Provenance | None

    @property
    def summary(self) -> str:
        return summary(self.provenance)


def describe_packages(
    channel: Channel | Storage, spec: str | None = None, subdirs: list[str] | None = None, *, required: bool = False
) -> list[Described]:
    """`list_packages` with each package's provenance, read concurrently (a bad record is absent, with a
    warning naming it). With `required`, no match is an error (`NotFound`) that points to `condafarm ls`."""
    storage = open_storage(channel)
    items = list_packages(storage, spec, subdirs)
    if required and not items:
        raise NotFound(f"no package in {storage.channel.url} matches {spec!r}; see `condafarm ls`")
    made = read_many(storage, [(i.subdir, i.filename) for i in items])
    return [Described(item, made[(item.subdir, item.filename)]) for item in items]


def summary(provenance: Provenance | None) -> str:
    """One short line: who or which job made it (`job-… on farm-…`, `ana@ws12`), or that nobody recorded it."""
    if provenance is None:
        return "no provenance recorded"
    ran = provenance.get("ran")
    ran = ran if isinstance(ran, dict) else {}  # another party may have written the record
    source = provenance.get("from")
    if provenance.get("kind") == "mirrored" and isinstance(source, dict):
        return f"mirrored from {source.get('channel', '?')} at {provenance.get('at', '?')}"
    verb = "built" if provenance.get("kind") == "built" else "published"
    if ran.get("deadline_job"):
        return f"{verb} by job {ran['deadline_job']} ({ran.get('deadline_queue', '?')})"
    return f"{verb} by {ran.get('user', '?')}@{ran.get('host', '?')}"


__all__ = [
    "Described",
    "Provenance",
    "describe_packages",
    "mirrored_from",
    "published_by",
    "read_provenance",
    "summary",
    "where_it_ran",
    "write_provenance",
]
