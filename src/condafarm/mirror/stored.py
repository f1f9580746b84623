"""The mirror specs a channel keeps (`.condafarm/mirror.yaml`), so a scheduled job can keep the mirror current.

Anyone who can write the channel can write this file, so it is read as hostile input: at most 64 KiB of YAML
(safe loader, no aliases), only known keys, every spec checked by `MirrorSpec.checked`. A bad file is refused
with a message saying how to write it anew; it never chooses where condafarm writes (always the channel it is in),
and every file it leads to is still checked against its upstream record's sha256 before it is published.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..channel.read import MIRROR_SPECS
from ..errors import ChannelProblems, UsageError
from ..storage import Storage
from ..storage.cas import put_if_unchanged, retry_on_conflict
from .spec import MirrorSpec

KEY = MIRROR_SPECS
_MAX_BYTES = 64 * 1024
_MAX_MIRRORS = 50
_FIELDS = {"upstream", "specs", "platforms", "virtual_packages", "all_versions", "include", "exclude", "licenses"}
_HEADER = "# condafarm mirror specs: `condafarm mirror --to CHANNEL` re-runs them all (see docs/mirror.md)\n"


class _NoAliases(yaml.SafeLoader):
    """YAML without anchors and aliases: a few bytes of aliases can expand into gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases are not allowed")
        return super().compose_node(parent, index)


def parse_mirrors(data: bytes, where: str) -> list[MirrorSpec]:
    """The specs in a `mirror.yaml`'s bytes; `ChannelProblems` names what is wrong with a bad one."""

    def bad(why: str) -> ChannelProblems:
        return ChannelProblems(
            f"{where}: {why}; write it anew with `condafarm mirror UPSTREAM --to CHANNEL --specs ...`"
        )

    if len(data) > _MAX_BYTES:
        raise bad(f"larger than {_MAX_BYTES // 1024} KiB")
    try:
        document = yaml.load(data.decode("utf-8"), Loader=_NoAliases)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise bad(f"not readable YAML ({str(exc).splitlines()[0][:120]})") from exc
    if not isinstance(document, dict) or set(document) != {"mirrors"} or not isinstance(document["mirrors"], list):
        raise bad("expected one key, `mirrors`, holding a list")
    entries = document["mirrors"]
    if len(entries) > _MAX_MIRRORS:
        raise bad(f"more than {_MAX_MIRRORS} mirrors")
    specs = []
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not set(entry) <= _FIELDS or not {"upstream", "specs"} <= set(entry):
            raise bad(f"mirror {n} must be a mapping with upstream, specs and only {', '.join(sorted(_FIELDS))}")
        try:
            specs.append(
                MirrorSpec.checked(
                    entry["upstream"],
                    entry["specs"],
                    entry.get("platforms", []),
                    virtual_packages=entry.get("virtual_packages", []),
                    all_versions=entry.get("all_versions", False),
                    include=entry.get("include", []),
                    exclude=entry.get("exclude", []),
                    licenses=entry.get("licenses", []),
                )
            )
        except UsageError as exc:
            raise bad(f"mirror {n}: {exc}") from exc
    return specs


def read_mirrors(storage: Storage) -> list[MirrorSpec]:
    """The specs the channel keeps; empty where it keeps none."""
    blob = storage.get(KEY, limit=_MAX_BYTES)
    return [] if blob is None else parse_mirrors(blob.data, storage.channel.url_of(KEY))


def remember(storage: Storage, spec: MirrorSpec) -> list[MirrorSpec]:
    """Keep `spec` in the channel, replacing the one with the same upstream and specs; returns all kept.

    A compare-and-swap, so two admins adding specs at once keep both. A stored file that cannot be read is
    replaced (the admin is writing a spec now) by one holding only this spec.
    """

    def attempt() -> list[MirrorSpec]:
        blob = storage.get(KEY, limit=_MAX_BYTES)
        try:
            kept = [] if blob is None else parse_mirrors(blob.data, storage.channel.url_of(KEY))
        except ChannelProblems:
            kept = []
        same = [m for m in kept if (m.upstream, m.specs) == (spec.upstream, spec.specs)]
        mirrors = [spec if m in same else m for m in kept] if same else [*kept, spec]
        text = _HEADER + yaml.safe_dump({"mirrors": [m.as_dict() for m in mirrors]}, sort_keys=False)
        put_if_unchanged(storage, KEY, text.encode(), blob.etag if blob else None, content_type="application/yaml")
        return mirrors

    return retry_on_conflict(attempt, what=storage.channel.url_of(KEY), hint="try again")


__all__ = ["KEY", "parse_mirrors", "read_mirrors", "remember"]
