"""The commit protocol: shard records, group commit of intents, adoption, compaction, derived files, leftovers."""

from __future__ import annotations

from . import intents
from .adoption import holds
from .derived import Derived, derived_problems, grace_over, sweep_due, sync_derived, track_shards
from .group import ADOPT_AFTER_SECONDS, Plan, commit_together
from .leftovers import describe, find_leftovers, remove_leftovers
from .names import commit_names, read_some
from .state import FileState, IndexState, Skipped
from .store import (
    Current,
    commit_repodata,
    compact,
    discover_subdirs,
    init_channel,
    load_repodata,
    read_current,
    repodata_key,
    shards_key,
    update_repodata,
)

__all__ = [
    "ADOPT_AFTER_SECONDS",
    "Current",
    "Derived",
    "FileState",
    "IndexState",
    "Plan",
    "Skipped",
    "commit_names",
    "commit_repodata",
    "commit_together",
    "compact",
    "derived_problems",
    "describe",
    "discover_subdirs",
    "find_leftovers",
    "grace_over",
    "holds",
    "init_channel",
    "intents",
    "load_repodata",
    "read_current",
    "read_some",
    "remove_leftovers",
    "repodata_key",
    "shards_key",
    "sweep_due",
    "sync_derived",
    "track_shards",
    "update_repodata",
]
