"""Which of a channel's packages depend on something the channel does not offer (for `check`).

A package of a platform subdir may be satisfied from that subdir or noarch; a noarch package from noarch or any
platform subdir (it is installed on one of them). Virtual packages (`__glibc`...) come from the host, never from a
channel. Matching is py-rattler's own, so the answer agrees with what a solver would find.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Where a channel keeps the specs `condafarm mirror` copies (read by `mirror`; here only whether it exists).
MIRROR_SPECS = ".condafarm/mirror.yaml"

Records = Mapping[str, Mapping[str, Mapping[str, Any]]]  # subdir -> filename -> record


@dataclass(frozen=True)
class Missing:
    """A dependency no package of the channel satisfies."""

    package: str  # SUBDIR/FILENAME
    spec: str
    searched: str  # the subdirs searched, for people

    def __str__(self) -> str:
        return f"{self.package}: depends on {self.spec!r}, which nothing in {self.searched} provides"


def missing_dependencies(records: Records) -> list[Missing]:
    """Every dependency that no package of the channel satisfies, by package and spec."""
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
                    found.append(Missing(f"{subdir}/{filename}", spec, where))
    return found


def summary(missing: list[Missing], most: int = 8) -> str:
    """One line for many: how many packages lack which names, the most common first."""
    names = Counter(m.spec.split()[0].split("::")[-1] for m in missing)
    shown = ", ".join(f"{name} ({count})" for name, count in names.most_common(most))
    more = f" and {len(names) - most} more" if len(names) > most else ""
    packages = len({m.package for m in missing})
    return (
        f"{packages} package(s) depend on names this channel does not offer (from another channel beside it?): "
        f"{shown}{more}"
    )


__all__ = ["MIRROR_SPECS", "Missing", "missing_dependencies", "summary"]
