"""Defaults that the library, the CLI and the worker plugin share, so that each is written once."""

from __future__ import annotations

#: A file a prune yanked is deleted only this many hours later: a job that resolved it just before still gets it.
DEFAULT_GRACE_HOURS = 24.0
#: Free space a build wants before it downloads anything: enough for a small tool and its test environment;
#: builds of big DCC apps should ask for tens of GB.
DEFAULT_MIN_FREE_DISK = "2G"

__all__ = ["DEFAULT_GRACE_HOURS", "DEFAULT_MIN_FREE_DISK"]
