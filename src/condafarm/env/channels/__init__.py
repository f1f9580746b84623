"""Where packages come from: channels and their CEP-16 shards, yanked files, and --offline (nothing else reached)."""

from __future__ import annotations

from . import offline
from .channels import Sources, resolve_channels
from .yanked import YankedFiles

__all__ = [
    "Sources",
    "YankedFiles",
    "offline",
    "resolve_channels",
]
