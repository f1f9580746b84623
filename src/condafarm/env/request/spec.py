"""What a render job asks for: package match specs, channels, channel priority, target platform and, for a
named environment, its name.

Parsed from the strings Deadline Cloud submitters send (`CondaPackages="blender=4.5 mtoa"`,
`CondaChannels="s3://bucket/Conda/Default conda-forge"` or `"deadline-cloud"`) and validated before anything is
downloaded. Channel names are resolved here, through the host's condarc files, so a request holds the channels
it will be solved from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import UsageError
from .condarc import CondaConfig, explain_channels, load_condarc, needs_condarc

#: How channel order constrains the solver, named as conda names it.
PRIORITIES = ("strict", "flexible", "disabled")

#: The name that means "named after the request" (the Deadline Cloud samples' NamedCondaEnv default).
AUTOMATIC = "AUTOMATIC"

#: What a match spec's version part starts with: a word starting so was cut off the name before it.
_VERSION_START = ("=", "<", ">", "!", "~")


def current_platform() -> str:
    """This host's conda subdir, e.g. `linux-64` or `win-64`."""
    import rattler

    return str(rattler.Subdir.current())


@dataclass(frozen=True)
class EnvSpec:
    """A request for an environment. Package order does not matter; channel order does (it is priority)."""

    packages: tuple[str, ...]
    channels: tuple[str, ...]
    priority: str = "strict"
    platform: str = ""
    #: A named environment (the samples' NamedCondaEnv): jobs giving the same name and request share it,
    #: apart from the environments named after the request alone.
    name: str = ""

    @property
    def key(self) -> str:
        """24 hex digits that name the cached environment for this request: equal requests share one."""
        fields = {
            "packages": sorted(self.packages),
            "channels": list(self.channels),
            "priority": self.priority,
            "platform": self.platform,
        }
        if self.name:
            fields["name"] = self.name
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def words(value: str | Sequence[str]) -> tuple[str, ...]:
    """Split space-separated lists; a sequence of such strings is split and joined."""
    items = [value] if isinstance(value, str) else list(value)
    return tuple(word for item in items for word in item.split())


def match_spec(text: str) -> Any:
    """`text` as the solver's MatchSpec: conda's forms (`name=1.0=build`, which py-rattler's solver does not
    parse) read as conda reads them, then held to the solver's strict rules, so a bad build string such as
    `h=extra` is a usage error here rather than a failure in the middle of a solve."""
    from rattler import MatchSpec

    return MatchSpec(str(MatchSpec(text, strict=False)), strict=True)


def _spec_error(spec: str, previous: str | None, exc: Exception) -> UsageError:
    if previous is not None and spec.startswith(_VERSION_START):
        return UsageError(
            f"package spec {spec!r} is not valid: specs are separated by spaces, so {previous + ' ' + spec!r} "
            f"was read as two; write {previous + spec!r} (no space inside a spec)"
        )
    return UsageError(
        f"package spec {spec!r} is not valid ({exc}); write NAME, NAME=VERSION, NAME=VERSION=BUILD or "
        "NAME>=VERSION, separated by spaces"
    )


def resolve_names(channels: Sequence[str], condarc: CondaConfig | None = None) -> tuple[str, ...]:
    """`channels` with every name (not URL or folder) replaced by what it stands for on this host; no
    channels means conda's default ones. The host's condarc files are read only when a name needs them."""
    if not needs_condarc(channels):
        return tuple(channels)
    return (condarc or load_condarc()).expand_all(channels)


def make_spec(
    packages: str | Sequence[str],
    channels: str | Sequence[str],
    priority: str = "strict",
    platform: str | None = None,
    *,
    name: str = "",
    condarc: CondaConfig | None = None,
) -> EnvSpec:
    """Validate a request: every package a valid match spec, a known priority; channel names resolved as conda
    does on this host (`condarc`, default: the host's files), and no channels meaning conda's defaults. `name`
    makes it a named environment; "" or AUTOMATIC names it after the request."""
    specs = words(packages)
    for index, spec in enumerate(specs):
        try:
            match_spec(spec)
        except Exception as exc:  # py-rattler raises InvalidMatchSpecError, not exported as a type
            raise _spec_error(spec, specs[index - 1] if index else None, exc) from exc
    if priority.lower() not in PRIORITIES:
        raise UsageError(f"channel priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
    resolved = resolve_names(words(channels), condarc)
    named = "" if name.upper() == AUTOMATIC else name
    return EnvSpec(specs, resolved, priority.lower(), platform or current_platform(), named)


@dataclass(frozen=True)
class Request:
    """A request as a front end reads it: the spec (None when no packages are asked for: no environment) and,
    one line each, what every channel name in it stands for on this host and why."""

    spec: EnvSpec | None
    explained: list[str]


def read_request(packages: str, channels: str, priority: str = "strict", *, name: str = "") -> Request:
    """`make_spec` for a front end's text, with the host's condarc files read once (only when a channel name
    needs them) for both the spec and its explanation."""
    if not words(packages):
        return Request(None, [])
    names = words(channels)
    condarc = load_condarc() if needs_condarc(names) else None
    return Request(make_spec(packages, names, priority, name=name, condarc=condarc), explain_channels(names, condarc))
