"""From a request to the records to install: solve, what a job record may pin, package integrity."""

from __future__ import annotations

from .integrity import require_sha256
from .recorded import check_satisfies, confine
from .solver import explain, install, locked_records, run, solve

__all__ = [
    "check_satisfies",
    "confine",
    "explain",
    "install",
    "locked_records",
    "require_sha256",
    "run",
    "solve",
]
