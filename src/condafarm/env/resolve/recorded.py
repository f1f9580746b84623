"""A package list another party wrote (a job's record), taken as a claim to check, never as truth.

Every job on a queue may write the records location, so a record may name any URL. It only chooses among what
the job's own channels (its `--channels`, after condarc names are resolved) hold: each entry must be
`CHANNEL/SUBDIR/FILENAME` for one of those channels with SUBDIR the target platform or `noarch` (`confine`),
is then looked up in that channel's index with the same sha256 (`solve.locked_records`), and the records found
must be the environment a solve of the request could give (`check_satisfies`). Anything else is refused before
anything is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from ...conda.package import is_package_filename
from ...errors import SolveError
from ..channels import Sources
from ..request import EnvSpec, LockedPackage


def _roots(sources: Sources) -> dict[str, str]:
    """The canonical root of every channel (as lockfiles name it), keyed by its decoded form: py-rattler and
    condafarm may percent-encode a folder's path differently."""
    roots = (sources.canonical(url.rstrip("/") + "/").rstrip("/") for url in sources.urls)
    return {unquote(root): root for root in roots}


def confine(packages: Sequence[LockedPackage], sources: Sources, platform: str) -> list[LockedPackage]:
    """`packages` named inside `sources`' channels, or `SolveError` for the first entry that is not.

    The entries returned name the channel as `sources` does, so they are looked up there and nowhere else.
    """
    roots = _roots(sources)
    confined = []
    for package in packages:
        channel, subdir, filename = package.channel, package.subdir, package.filename
        root = roots.get(unquote(channel))
        if root is None:
            raise SolveError(
                f"{package.url} is not in the job's channels ({sources.describe()}); a record may only pin files "
                "the job's own channels hold"
            )
        if subdir not in (platform, "noarch") or not is_package_filename(filename):
            raise SolveError(f"{package.url} is not a {platform} or noarch package file; this host cannot use it")
        confined.append(LockedPackage(f"{root}/{subdir}/{filename}", package.sha256))
    return confined


def check_satisfies(records: Sequence[Any], spec: EnvSpec) -> None:
    """Raise `SolveError` unless `records` (py-rattler RepoDataRecords) are the environment a solve of `spec`
    could give: every requested spec matched, one build per name, every dependency and constraint met inside
    the set, and nothing the request does not need (an extra package could bring its own activation scripts)."""
    from rattler import MatchSpec, PackageRecord

    names = [record.name.normalized for record in records]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SolveError(f"it lists {twice[0]} more than once, and an environment holds one build of each package")
    requested = []
    for wanted in spec.packages:
        match = MatchSpec(wanted)
        found = [record for record in records if match.matches(record)]
        if not found:
            raise SolveError(f"it holds nothing matching {wanted!r} of the request {' '.join(spec.packages)!r}")
        requested += found
    try:
        PackageRecord.validate(list(records))
    except Exception as exc:  # py-rattler's ValidatePackageRecordsError
        raise SolveError(f"its packages are not a whole environment: {exc}") from exc
    unneeded = sorted(set(names) - _needed(requested, {record.name.normalized: record for record in records}))
    if unneeded:
        raise SolveError(f"it lists {unneeded[0]}, which nothing in the request {' '.join(spec.packages)!r} needs")


def _needed(requested: list[Any], by_name: dict[str, Any]) -> set[str]:
    """The names `requested` records depend on, directly or through each other, themselves included."""
    from rattler import MatchSpec

    needed: set[str] = set()
    todo = list(requested)
    while todo:
        record = todo.pop()
        if record.name.normalized in needed:
            continue
        needed.add(record.name.normalized)
        for dependency in record.depends:
            name = MatchSpec(dependency).name.normalized
            if name in by_name:
                todo.append(by_name[name])
    return needed
