"""conda-lock's `conda-lock.yml` (format version 1, what conda-lock 4 writes): written from an environment's
records for every platform, and read back as the exact files to install for one platform.

Written with pyyaml, not conda-lock's pydantic model: conda-lock pulls in some thirty packages (git, keyring,
poetry's installer...) that a render host does not need. The tests prove conda-lock's own parser loads the file.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import UsageError
from .lockfile import LockedPackage, Origin, checked_package

#: What `env create --lockfile` says about a file it cannot use.
_HINT = "write conda-lock.yml files with `condafarm env export --conda-lock` or `conda-lock lock`"


def _dependencies(depends: Sequence[str]) -> dict[str, str]:
    """conda-lock's `{name: constraint}` form of match specs (`render-lic >=2` -> `render-lic: '>=2'`)."""
    found = {}
    for spec in depends:
        name, _, constraint = spec.strip().partition(" ")
        found[name] = constraint.strip()
    return found


def _package(record: Any, platform: str) -> dict[str, Any]:
    if record.md5 is None:
        raise UsageError(
            f"{record.url} has no md5 in its channel's repodata, and conda-lock.yml needs one; run `condafarm index` "
            "on the channel, create the environment again and export it"
        )
    return {
        "name": record.name.normalized,
        "version": str(record.version),
        "manager": "conda",
        "platform": platform,
        "dependencies": _dependencies(record.depends),
        "url": str(record.url),
        "hash": {"md5": record.md5.hex(), "sha256": record.sha256.hex()},
        "build": str(record.build),
        "category": "main",
        "optional": False,
    }


def conda_lock_yaml(origin: Origin, records: Mapping[str, Sequence[Any]]) -> str:
    """conda-lock.yml for `records` (platform -> py-rattler RepoDataRecords with canonical URLs). The request
    and channel priority go in `custom_metadata`, the channels in `metadata.channels`."""
    import yaml

    platforms = sorted(records)
    content_hash = {
        platform: hashlib.sha256(
            json.dumps([list(origin.request), list(origin.channels), origin.priority, platform]).encode()
        ).hexdigest()
        for platform in platforms
    }
    document = {
        "version": 1,
        "metadata": {
            "content_hash": content_hash,
            "channels": [{"url": channel, "used_env_vars": []} for channel in origin.channels],
            "platforms": platforms,
            "sources": [],
            "time_metadata": {"created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "custom_metadata": {
                "condafarm_request": " ".join(origin.request),
                "condafarm_priority": origin.priority,
            },
        },
        "package": [
            _package(record, platform)
            for platform in platforms
            for record in sorted(records[platform], key=lambda r: r.name.normalized)
        ],
    }
    header = ["# conda-lock lockfile written by condafarm", *origin.comments()]
    header.append("# Recreate the environment with: condafarm env create PREFIX --lockfile THIS_FILE")
    return "\n".join(header) + "\n" + yaml.safe_dump(document, sort_keys=False)


def is_conda_lock(document: Any) -> bool:
    return isinstance(document, dict) and "package" in document and "metadata" in document


def read_conda_lock(document: Any, source: str, platform: str) -> list[LockedPackage]:
    """The conda packages a parsed conda-lock.yml locks for `platform`, each checked to carry a package URL and
    a sha256 (conda-lock's own files have both)."""
    if document.get("version") != 1 or not isinstance(document.get("package"), list):
        raise UsageError(f"{source} is not a conda-lock.yml of version 1; {_HINT}")
    packages = []
    for number, entry in enumerate(document["package"], 1):
        if not isinstance(entry, dict):
            raise UsageError(f"{source}: package {number} is not a mapping; {_HINT}")
        if entry.get("platform") != platform or entry.get("manager", "conda") != "conda":
            continue
        digest = entry.get("hash", {}).get("sha256") if isinstance(entry.get("hash"), dict) else None
        packages.append(checked_package(entry.get("url"), digest, f"{source} package {number}", _HINT))
    return packages


def conda_lock_platforms(document: Any) -> list[str]:
    platforms = document.get("metadata", {}).get("platforms") if isinstance(document.get("metadata"), dict) else None
    return [p for p in platforms if isinstance(p, str)] if isinstance(platforms, list) else []
