"""Reading a channel: package files into records, listings, the mirror's dependency specs, and check."""

from __future__ import annotations

from .check import CheckReport, check_channel
from .dependencies import MIRROR_SPECS
from .listing import Listed, list_packages, spec_matcher
from .reading import Processes, Progress, Reader, prove_published, read_package

__all__ = [
    "MIRROR_SPECS",
    "CheckReport",
    "Listed",
    "Processes",
    "Progress",
    "Reader",
    "check_channel",
    "list_packages",
    "prove_published",
    "read_package",
    "spec_matcher",
]
