"""Curation of published packages: yank, remove, copy, prune, and the protection prune honours."""

from __future__ import annotations

from .curate import Curated, copy_packages, remove, yank
from .prune import PruneReport, prune_channel

__all__ = [
    "Curated",
    "PruneReport",
    "copy_packages",
    "prune_channel",
    "remove",
    "yank",
]
