"""Which upstream files a mirror needs: the solved closure of its specs on each platform, plus the extras it names.

py-rattler solves from the upstream as a render host would (its Gateway reads only the CEP-16 shards of the
names the solve touches, where the upstream has shards), with the virtual packages the spec states for each
platform instead of this machine's. Every record it returns is upstream input: a record without a sha256 or size
cannot be checked, so it is refused here rather than copied unchecked.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..conda.package import is_package_filename
from ..env.channels import Sources
from ..env.resolve import explain, run
from ..errors import CondafarmError, PackageError
from ..storage.location import KNOWN_SUBDIRS
from .spec import MirrorSpec


@dataclass(frozen=True)
class Wanted:
    """One upstream file a mirror needs, with what its record promises about its bytes."""

    subdir: str
    filename: str
    url: str
    name: str
    version: str
    sha256: str
    size: int
    md5: str | None
    license: str
    #: as the upstream's repodata says them, which its repodata patches may have changed since the build
    depends: tuple[str, ...] = ()
    constrains: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"


@dataclass
class Closure:
    """What each platform needs (noarch files included), and what the filters left out."""

    platforms: dict[str, list[Wanted]]
    #: files left out because their license matches none of the allowed patterns
    unlicensed: list[Wanted]
    #: files left out by `--exclude`
    excluded: list[Wanted]

    def files(self) -> list[Wanted]:
        """Every file to copy, once each, in a stable order."""
        found = {w.key: w for wanted in self.platforms.values() for w in wanted}
        return [found[k] for k in sorted(found)]


def wanted_of(record: Any, sources: Sources) -> Wanted:
    """A py-rattler record as a file to copy, refusing one whose bytes could not be checked or placed."""
    filename, subdir = str(record.file_name), str(record.subdir)
    if subdir not in KNOWN_SUBDIRS or not is_package_filename(filename) or "/" in filename or "\\" in filename:
        raise PackageError(f"upstream record {subdir}/{filename} names no package file in a conda subdir")
    if record.sha256 is None or record.size is None or record.size < 0:
        raise PackageError(
            f"upstream record {subdir}/{filename} has no sha256 or size, so its bytes cannot be checked; "
            "exclude it with --exclude or fix the upstream's index"
        )
    return Wanted(
        subdir=subdir,
        filename=filename,
        url=sources.canonical(str(record.url)),
        name=record.name.normalized,
        version=str(record.version),
        sha256=record.sha256.hex(),
        size=int(record.size),
        md5=record.md5.hex() if record.md5 is not None else None,
        license=str(record.license or ""),
        depends=tuple(str(d) for d in record.depends),
        constrains=tuple(str(c) for c in record.constrains),
    )


def solve_closure(spec: MirrorSpec, sources: Sources, cache: Path) -> Closure:
    """The files each of `spec`'s platforms needs from the upstream, filtered by its exclude and license rules."""
    try:
        return run(_closure(spec, sources, cache), f"{spec.upstream} (repodata for {' '.join(spec.specs)})")
    except CondafarmError:
        raise
    except Exception as exc:
        raise explain(exc, sources, " ".join(spec.specs)) from exc


async def _closure(spec: MirrorSpec, sources: Sources, cache: Path) -> Closure:
    import rattler

    gateway = sources.gateway(cache)
    closure = Closure({}, [], [])
    excluded = [rattler.MatchSpec(s) for s in spec.exclude]
    extras = [*(spec.specs if spec.all_versions else ()), *spec.include]
    for platform in spec.platforms:
        subdirs = [rattler.Subdir(platform), rattler.Subdir("noarch")]
        try:
            records = list(
                await rattler.solve(
                    sources=sources.urls,
                    specs=list(spec.specs),
                    gateway=gateway,
                    platforms=subdirs,
                    virtual_packages=_virtual_packages(spec, platform),
                )
            )
        except Exception as exc:
            if type(exc).__name__ == "SolverError":
                raise explain(exc, sources, f"{' '.join(spec.specs)} on {platform}") from exc
            raise
        if extras:
            asked = [rattler.MatchSpec(s) for s in extras]
            found = await gateway.query(sources.urls, subdirs, asked, recursive=False)
            records += [r for group in found for r in group if any(m.matches(r) for m in asked)]
        chosen: dict[str, Wanted] = {}
        for record in records:
            wanted = wanted_of(record, sources)
            if any(m.matches(record) for m in excluded):
                closure.excluded.append(wanted)
            elif not _licensed(wanted.license, spec.licenses):
                closure.unlicensed.append(wanted)
            else:
                chosen[wanted.key] = wanted
        closure.platforms[platform] = [chosen[k] for k in sorted(chosen)]
    closure.excluded = sorted({w.key: w for w in closure.excluded}.values(), key=lambda w: w.key)
    closure.unlicensed = sorted({w.key: w for w in closure.unlicensed}.values(), key=lambda w: w.key)
    return closure


def _virtual_packages(spec: MirrorSpec, platform: str) -> list[Any]:
    from rattler import BuildString, GenericVirtualPackage, PackageName, Version

    return [
        GenericVirtualPackage(
            PackageName(name), Version(version), BuildString(spec.archspec(platform) if name == "__archspec" else "0")
        )
        for name, version in spec.virtual_for(platform).items()
    ]


def _licensed(license: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatch.fnmatch(license.lower(), p.lower()) for p in patterns)


__all__ = ["Closure", "Wanted", "solve_closure"]
