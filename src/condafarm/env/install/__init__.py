"""A prefix on this host: create it from a solve, cache and reuse it, one writer at a time, activate it."""

from __future__ import annotations

from .activation import activation_changes, openjd_lines
from .cache import Acquired, EnvCache, default_cache_root
from .create import MANIFEST, Manifest, create_environment, read_manifest

__all__ = [
    "MANIFEST",
    "Acquired",
    "EnvCache",
    "Manifest",
    "activation_changes",
    "create_environment",
    "default_cache_root",
    "openjd_lines",
    "read_manifest",
]
