"""The exact package set of an environment: explicit lockfiles (conda's `@EXPLICIT` format, URL plus sha256)
and pinned environment YAML, written and read back, each naming the request and channels it came from."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from ...errors import SolveError, UsageError

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

    def changed(self) -> SolveError:
        """The error for a channel file that is not the one the lockfile pinned (another sha256)."""
        return SolveError(
            f"{self.url} changed since the lockfile was written (sha256 differs); "
            "a lockfile only recreates the exact files it lists"
        )

    @property
    def name_version_build(self) -> tuple[str, str, str]:
        stem = self.filename.removesuffix(".conda").removesuffix(".tar.bz2")
        name, version, build = stem.rsplit("-", 2)
        return name, version, build


@dataclass(frozen=True)
class Origin:
    """What an environment was made from: the request (match specs), its channels in priority order and the
    channel priority. Every artifact condafarm exports names it, so a file found later says where it came from."""

    request: tuple[str, ...]
    channels: tuple[str, ...]
    priority: str

    def comments(self) -> list[str]:
        """`# request: ...` and `# channels: ...` lines for text formats (a line break in a value, which a
        manifest someone edited could hold, cannot start a line of its own)."""
        return [
            f"# request: {_one_line(self.request)}",
            f"# channels: {_one_line(self.channels)} (priority {_one_line([self.priority])})",
        ]


def _one_line(words: Iterable[str]) -> str:
    return " ".join(" ".join(words).split())


def explicit_lockfile(packages: Iterable[LockedPackage], platform: str, origin: Origin | None = None) -> str:
    """An explicit lockfile: `condafarm env create PREFIX --lockfile FILE` installs exactly these files."""
    lines = [
        "# condafarm explicit lockfile: the exact package files of an environment.",
        "# Recreate it with: condafarm env create PREFIX --lockfile THIS_FILE",
        f"# platform: {platform}",
        *(origin.comments() if origin else []),
        "@EXPLICIT",
    ]
    lines += [f"{p.url}#sha256:{p.sha256}" for p in sorted(packages, key=lambda p: p.url)]
    return "\n".join(lines) + "\n"


def checked_package(url: object, digest: object, where: str, hint: str) -> LockedPackage:
    """A lockfile entry as a LockedPackage, once its URL names a package file in a subdir and its sha256 is 64
    hex digits (the one rule every lockfile format we read goes through)."""
    match = _HASH.match(digest.strip().lower()) if isinstance(digest, str) else None
    parts = url.rsplit("/", 2) if isinstance(url, str) else []
    stem = parts[-1].removesuffix(".conda").removesuffix(".tar.bz2") if parts else ""
    if match is None or len(parts) < 3 or stem == parts[-1] or stem.count("-") < 2:
        raise UsageError(
            f"{where}: expected a package URL (CHANNEL/SUBDIR/NAME-VERSION-BUILD.conda) and its sha256, "
            f"got {url!r} and {digest!r}; {hint}"
        )
    assert isinstance(url, str)
    if _escapes(url):
        raise UsageError(
            f"{where}: {url!r} is not CHANNEL/SUBDIR/FILENAME (a '.' or '..' part, or a backslash, would make it "
            f"name a file outside its channel); {hint}"
        )
    return LockedPackage(url, match.group(1))


def read_explicit_lockfile(text: str, source: str = "lockfile") -> tuple[str | None, list[LockedPackage]]:
    """The platform (if stated) and packages of an explicit lockfile; every line must carry a sha256."""
    hint = "write lockfiles with `condafarm env export`"
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
        if not explicit:
            raise UsageError(f"{source} line {number}: expected @EXPLICIT before {line!r}; {hint}")
        url, _, digest = line.partition("#")
        packages.append(checked_package(url, digest, f"{source} line {number}", hint))
    if not packages:
        raise UsageError(f"{source} lists no packages; {hint}")
    return platform, packages


def _escapes(url: str) -> bool:
    """Whether `url` could name a file outside the channel its text names: URL parsers resolve `.` and `..`
    parts (also written `%2e`), and read a backslash as `/` in file and http URLs."""
    decoded = unquote(url)
    return "\\" in decoded or any(part in (".", "..") for part in decoded.split("/"))


def pinned_yaml(packages: Iterable[LockedPackage], origin: Origin, name: str) -> str:
    """An environment YAML with every package pinned to version and build (`name=version=build`); the request
    goes in a comment (conda's environment files have no field for it)."""
    import yaml

    pins = sorted("=".join(p.name_version_build) for p in packages)
    body = yaml.safe_dump({"name": name, "channels": list(origin.channels), "dependencies": pins}, sort_keys=False)
    return "\n".join(["# condafarm pinned environment", *origin.comments()]) + "\n" + body
