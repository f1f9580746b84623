"""What a render job asks for: package match specs, channels, channel priority and target platform.

Parsed from the strings Deadline Cloud submitters send (`CondaPackages="blender=4.5 mtoa"`,
`CondaChannels="s3://bucket/Conda/Default conda-forge"`) and validated before anything is downloaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError

#: How channel order constrains the solver, named as conda names it.
PRIORITIES = ("strict", "flexible", "disabled")


def current_platform() -> str:
    """This host's conda subdir, e.g. `linux-64` or `win-64`."""
    import rattler

    return str(rattler.Platform.current())


@dataclass(frozen=True)
class EnvSpec:
    """A request for an environment. Package order does not matter; channel order does (it is priority)."""

    packages: tuple[str, ...]
    channels: tuple[str, ...]
    priority: str = "strict"
    platform: str = ""

    @property
    def key(self) -> str:
        """24 hex digits that name the cached environment for this request: equal requests share one."""
        text = json.dumps(
            {
                "packages": sorted(self.packages),
                "channels": list(self.channels),
                "priority": self.priority,
                "platform": self.platform,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def words(value: str | Sequence[str]) -> tuple[str, ...]:
    """Split space-separated lists; a sequence of such strings is split and joined."""
    items = [value] if isinstance(value, str) else list(value)
    return tuple(word for item in items for word in item.split())


def make_spec(
    packages: str | Sequence[str],
    channels: str | Sequence[str],
    priority: str = "strict",
    platform: str | None = None,
) -> EnvSpec:
    """Validate a request: every package a valid match spec, at least one channel, a known priority."""
    from rattler import MatchSpec

    specs = words(packages)
    for spec in specs:
        try:
            MatchSpec(spec)
        except Exception as exc:  # py-rattler raises InvalidMatchSpecError, not exported as a type
            raise UsageError(
                f"package spec {spec!r} is not valid ({exc}); write NAME, NAME=VERSION or NAME>=VERSION, "
                "separated by spaces"
            ) from exc
    names = words(channels)
    if not names:
        raise UsageError("no channels given; pass --channels 's3://BUCKET/PREFIX conda-forge' (space-separated)")
    if priority.lower() not in PRIORITIES:
        raise UsageError(f"channel priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
    return EnvSpec(specs, names, priority.lower(), platform or current_platform())
