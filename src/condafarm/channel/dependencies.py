"""Which of a channel's packages depend on something the channel does not offer (for `check`).

A package of a platform subdir may be satisfied from that subdir or noarch; a noarch package from noarch or any
platform subdir (it is installed on one of them). Virtual packages (`__glibc`...) come from the host, never from a
channel. Matching is py-rattler's own, so the answer agrees with what a solver would find.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

#: Where a channel keeps the specs `condafarm mirror` copies (read by `mirror`; here only whether it exists).
MIRROR_SPECS = ".condafarm/mirror.yaml"

Records = Mapping[str, Mapping[str, Mapping[str, Any]]]  # subdir -> filename -> record


def missing_dependencies(records: Records) -> list[str]:
    """One line per dependency that no package of the channel satisfies, naming the package and the spec."""
    from rattler import BuildString, MatchSpec, PackageRecord

    candidates: dict[str, dict[str, list[Any]]] = {}  # subdir -> name -> PackageRecords
    for subdir, files in records.items():
        for record in files.values():
            try:
                candidates.setdefault(subdir, {}).setdefault(str(record["name"]), []).append(
                    PackageRecord(
                        name=str(record["name"]),
                        version=str(record["version"]),
                        build=BuildString(str(record["build"])),
                        build_number=int(record.get("build_number", 0)),
                        subdir=subdir,
                    )
                )
            except Exception:  # a record clients cannot read: `check` reports it on its own
                continue

    @functools.cache
    def satisfied(spec: str, pool: tuple[str, ...]) -> bool:
        try:
            match = MatchSpec(spec)
        except Exception:  # an unparseable spec: `check` reports the record as unreadable
            return True
        name = match.name.normalized if match.name is not None else ""
        return any(match.matches(c) for subdir in pool for c in candidates.get(subdir, {}).get(name, ()))

    platforms = tuple(sorted(s for s in records if s != "noarch"))
    found = []
    for subdir in sorted(records):
        pool = ("noarch", *platforms) if subdir == "noarch" else (subdir, "noarch")
        where = " or ".join(pool) if subdir != "noarch" else "noarch or any platform"
        for filename, record in sorted(records[subdir].items()):
            depends = record.get("depends")
            for spec in depends if isinstance(depends, list) else ():
                if isinstance(spec, str) and not spec.startswith("__") and not satisfied(spec, pool):
                    found.append(f"{subdir}/{filename}: depends on {spec!r}, which nothing in {where} provides")
    return found


__all__ = ["MIRROR_SPECS", "missing_dependencies"]
