"""What is asked for: the spec, .condarc, and lockfiles in every format we read and write."""

from __future__ import annotations

from .conda_lock import conda_lock_yaml
from .condarc import CondaConfig, explain_channels, load_condarc, needs_condarc
from .lock_formats import read_lockfile
from .lockfile import LockedPackage, Origin, explicit_lockfile, pinned_yaml, read_explicit_lockfile
from .pixi_lock import write_pixi_lock
from .spec import EnvSpec, Request, current_platform, make_spec, match_spec, read_request, resolve_names, words

__all__ = [
    "CondaConfig",
    "EnvSpec",
    "LockedPackage",
    "Origin",
    "Request",
    "conda_lock_yaml",
    "current_platform",
    "explain_channels",
    "explicit_lockfile",
    "load_condarc",
    "make_spec",
    "match_spec",
    "needs_condarc",
    "pinned_yaml",
    "read_explicit_lockfile",
    "read_lockfile",
    "read_request",
    "resolve_names",
    "words",
    "write_pixi_lock",
]
