"""The exact package set of an environment: explicit lockfiles (conda's `@EXPLICIT` format, URL plus sha256)
and pinned environment YAML, written and read back."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..conda.package import split_filename
from ..errors import PackageError, UsageError

_HASH = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")


@dataclass(frozen=True)
class LockedPackage:
    """One package file of an environment: its canonical URL (`s3://...` for S3 channels) and sha256."""

    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def subdir(self) -> str:
        return self.url.rsplit("/", 2)[-2]

    @property
    def channel(self) -> str:
        """The channel root the file lives in (the URL without `subdir/filename`)."""
        return self.url.rsplit("/", 2)[0]

    @property
    def name_version_build(self) -> tuple[str, str, str]:
        stem = self.filename.removesuffix(".conda").removesuffix(".tar.bz2")
        name, version, build = stem.rsplit("-", 2)
        return name, version, build


def explicit_lockfile(packages: Iterable[LockedPackage], platform: str) -> str:
    """An explicit lockfile: `condafarm env create PREFIX --lockfile FILE` installs exactly these files."""
    lines = [
        "# condafarm explicit lockfile: the exact package files of an environment.",
        "# Recreate it with: condafarm env create PREFIX --lockfile THIS_FILE",
        f"# platform: {platform}",
        "@EXPLICIT",
    ]
    lines += [f"{p.url}#sha256:{p.sha256}" for p in sorted(packages, key=lambda p: p.url)]
    return "\n".join(lines) + "\n"


def read_explicit_lockfile(text: str, source: str = "lockfile") -> tuple[str | None, list[LockedPackage]]:
    """The platform (if stated) and packages of an explicit lockfile; every line must carry a sha256."""
    platform = None
    packages = []
    explicit = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("# platform:"):
            platform = line.split(":", 1)[1].strip()
        if not line or line.startswith("#"):
            continue
        if line == "@EXPLICIT":
            explicit = True
            continue
        url, _, digest = line.partition("#")
        match = _HASH.match(digest.strip().lower())
        if not explicit or match is None or not url.endswith((".conda", ".tar.bz2")):
            raise UsageError(
                f"{source} line {number}: expected PACKAGE_URL#sha256:HEX after @EXPLICIT, got {line!r}; "
                "write lockfiles with `condafarm env export`"
            )
        package = LockedPackage(url, match.group(1))
        try:
            split_filename(package.filename)
        except PackageError as exc:
            raise UsageError(f"{source} line {number}: {exc}; write lockfiles with `condafarm env export`") from exc
        if url.count("/") < 2:
            raise UsageError(f"{source} line {number}: {url!r} names no channel and subdir (CHANNEL/SUBDIR/FILE)")
        packages.append(package)
    if not packages:
        raise UsageError(f"{source} lists no packages; write lockfiles with `condafarm env export`")
    return platform, packages


def pinned_yaml(packages: Iterable[LockedPackage], channels: Sequence[str], name: str) -> str:
    """An environment YAML with every package pinned to version and build (`name=version=build`)."""
    import yaml

    pins = sorted("=".join(p.name_version_build) for p in packages)
    return yaml.safe_dump({"name": name, "channels": list(channels), "dependencies": pins}, sort_keys=False)
