"""What a mirror takes from its upstream: match specs, platforms, virtual packages and filters, checked once.

A `MirrorSpec` is built from command-line flags or read back from the channel's `.condafarm/mirror.yaml`
(`stored.py`); both go through `MirrorSpec.checked`, so a spec from a file another party can write is held to the
same rules as one typed by the admin.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..storage.location import KNOWN_SUBDIRS

#: What a farm host of each OS family reports when nothing is stated: pixi's defaults for the same platforms
#: (glibc 2.28 and kernel 4.18: RHEL 8 / Rocky 8; macOS 13), so a mirror solves what a typical farm host runs.
DEFAULT_VIRTUAL = {
    "linux": {"__unix": "0", "__linux": "4.18", "__glibc": "2.28"},
    "osx": {"__unix": "0", "__osx": "13.0"},
    "win": {"__win": "0"},
}
#: Virtual packages that only exist on one OS family; any other applies to every platform.
_FAMILY_OF = {"__glibc": "linux", "__linux": "linux", "__osx": "osx", "__win": "win", "__unix": "unix"}
_ARCHSPEC = {"64": "x86_64", "aarch64": "aarch64", "arm64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}
_VIRTUAL_RE = re.compile(
    r"^(?:(?P<platform>[a-z0-9-]+):)?(?P<name>__[a-z0-9_]{1,40})=(?P<version>[0-9A-Za-z._+]{1,40})$"
)
_MAX_ITEMS = 200
_MAX_TEXT = 300


def _family(platform: str) -> str:
    return platform.split("-", 1)[0]


@dataclass(frozen=True)
class VirtualPackage:
    """A virtual package a platform's hosts have (`__glibc=2.28`), for one platform or all (`platform` None)."""

    name: str
    version: str
    platform: str | None = None

    @classmethod
    def parse(cls, text: str) -> VirtualPackage:
        """`__glibc=2.28` or `linux-64:__glibc=2.28`."""
        found = _VIRTUAL_RE.match(text.strip()) if isinstance(text, str) else None
        if found is None:
            raise UsageError(
                f"virtual package {str(text)[:80]!r} is not NAME=VERSION or PLATFORM:NAME=VERSION, e.g. __glibc=2.28"
            )
        platform = found.group("platform")
        if platform is not None and platform not in KNOWN_SUBDIRS:
            raise UsageError(f"virtual package {text!r}: {platform!r} is not a conda platform, e.g. linux-64")
        from rattler import Version

        try:
            Version(found.group("version"))
        except Exception as exc:  # py-rattler raises its own parse errors
            raise UsageError(f"virtual package {text!r}: {found.group('version')!r} is not a version") from exc
        return cls(found.group("name"), found.group("version"), platform)

    def applies_to(self, platform: str) -> bool:
        if self.platform is not None:
            return self.platform == platform
        family = _FAMILY_OF.get(self.name)
        if family == "unix":
            return _family(platform) in ("linux", "osx")
        return family is None or family == _family(platform)

    def __str__(self) -> str:
        where = f"{self.platform}:" if self.platform else ""
        return f"{where}{self.name}={self.version}"


@dataclass(frozen=True)
class MirrorSpec:
    """One mirror: which upstream, which specs, for which platforms, with which filters."""

    upstream: str
    specs: tuple[str, ...]
    platforms: tuple[str, ...]
    virtual_packages: tuple[VirtualPackage, ...] = ()
    #: every version of the named specs, beside the one the solve picked
    all_versions: bool = False
    #: more records to copy as they are (no closure): every record matching one of these specs
    include: tuple[str, ...] = ()
    #: records never copied, even when the closure needs them (the channel has its own build, say)
    exclude: tuple[str, ...] = ()
    #: licenses allowed (glob patterns, case-insensitive); empty allows every license
    licenses: tuple[str, ...] = ()

    @classmethod
    def checked(
        cls,
        upstream: str,
        specs: Sequence[str],
        platforms: Sequence[str],
        *,
        virtual_packages: Sequence[str] = (),
        all_versions: bool = False,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        licenses: Sequence[str] = (),
    ) -> MirrorSpec:
        """A spec from untrusted parts: every field is checked, and the first bad one raises `UsageError`."""
        if not isinstance(upstream, str) or not upstream.strip() or len(upstream) > _MAX_TEXT:
            raise UsageError("name the upstream channel: https://..., s3://BUCKET/PREFIX or a folder")
        words = _texts("specs", specs)
        if not words:
            raise UsageError('name what to mirror with --specs, e.g. --specs "python 3.11.* numpy"')
        chosen = _texts("platforms", platforms) or ("linux-64",)
        for platform in chosen:
            if platform not in KNOWN_SUBDIRS or platform == "noarch":
                raise UsageError(f"{platform!r} is not a conda platform to mirror for, e.g. linux-64 or win-64")
        if not isinstance(all_versions, bool):
            raise UsageError("all_versions must be true or false")
        for spec in (*words, *_texts("include", include), *_texts("exclude", exclude)):
            _check_match_spec(spec)
        return cls(
            upstream=upstream.strip(),
            specs=words,
            platforms=tuple(dict.fromkeys(chosen)),
            virtual_packages=tuple(VirtualPackage.parse(v) for v in _texts("virtual_packages", virtual_packages)),
            all_versions=all_versions,
            include=_texts("include", include),
            exclude=_texts("exclude", exclude),
            licenses=_texts("licenses", licenses),
        )

    def from_upstream(self, upstream: str) -> MirrorSpec:
        """The same spec read from another upstream (a farm that moved to another internal proxy)."""
        return MirrorSpec.checked(
            upstream,
            self.specs,
            self.platforms,
            virtual_packages=[str(v) for v in self.virtual_packages],
            all_versions=self.all_versions,
            include=self.include,
            exclude=self.exclude,
            licenses=self.licenses,
        )

    def virtual_for(self, platform: str) -> dict[str, str]:
        """The virtual packages (name -> version) a host of `platform` is taken to have."""
        found = dict(DEFAULT_VIRTUAL.get(_family(platform), {}))
        arch = _ARCHSPEC.get(platform.split("-", 1)[-1])
        if arch is not None:
            found["__archspec"] = "1"
        for virtual in self.virtual_packages:
            if virtual.applies_to(platform):
                found[virtual.name] = virtual.version
        return found

    def archspec(self, platform: str) -> str:
        """The `__archspec` build string (the CPU family) of `platform`."""
        return _ARCHSPEC.get(platform.split("-", 1)[-1], "0")

    def as_dict(self) -> dict[str, Any]:
        """What `mirror.yaml` keeps of this spec."""
        return {
            "upstream": self.upstream,
            "specs": list(self.specs),
            "platforms": list(self.platforms),
            "virtual_packages": [str(v) for v in self.virtual_packages],
            "all_versions": self.all_versions,
            "include": list(self.include),
            "exclude": list(self.exclude),
            "licenses": list(self.licenses),
        }

    def describe(self) -> str:
        return f"{' '.join(self.specs)} for {', '.join(self.platforms)} from {self.upstream}"


def split_specs(texts: Sequence[str]) -> list[str]:
    """Match specs from `--specs` values: `"python 3.11.* numpy"` is two specs; a version joins its name, and so
    does an operator written apart (`numpy >=1.26`), so each word that starts with a letter or `_` begins a spec."""
    specs: list[str] = []
    for text in texts:
        for word in text.split():
            if specs and not (word[0].isalpha() or word[0] == "_") and not specs[-1].count(" ") >= 2:
                specs[-1] = f"{specs[-1]} {word}"
            else:
                specs.append(word)
    return specs


def _texts(what: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise UsageError(f"{what} must be a list of strings")
    if len(values) > _MAX_ITEMS:
        raise UsageError(f"{what}: at most {_MAX_ITEMS} entries")
    for value in values:
        if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT or "\n" in value:
            raise UsageError(f"{what}: {str(value)[:80]!r} is not a one-line string")
    return tuple(v.strip() for v in values)


def _check_match_spec(spec: str) -> None:
    from rattler import MatchSpec

    try:
        MatchSpec(spec)
    except Exception as exc:  # py-rattler raises its own parse exception types
        raise UsageError(f"{spec!r} is not a valid match spec ({exc})") from exc


__all__ = ["MirrorSpec", "VirtualPackage", "split_specs"]
