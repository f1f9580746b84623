"""Checks that run before a build downloads or writes anything: free disk space and the source archive.

A DCC installer build that runs out of disk after downloading 20 GB wastes an hour of a farm host; these
checks fail in a second, with the numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import psutil

from ..conda.package import hash_file
from ..defaults import DEFAULT_MIN_FREE_DISK
from ..errors import BuildError, UsageError
from ..numbers import Range, check_number

#: Sizes a disk can have (a 400-digit size would otherwise become an infinite float).
_SIZES = Range(0, 2.0**63)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in `50G`, `500MB`, `1.5TiB` or a plain byte count (binary units)."""
    match = _SIZE_RE.match(text)
    if not match:
        raise UsageError(f"size {text!r} is not a size; give bytes or a number with K, M, G or T (e.g. 50G)")
    size = float(match.group(1)) * _UNITS[match.group(2).upper()]
    return int(check_number(size, f"size {text.strip()!r}", _SIZES))


DEFAULT_MIN_FREE_DISK_BYTES = parse_size(DEFAULT_MIN_FREE_DISK)


def format_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _existing(folder: Path) -> Path:
    """`folder`, or its nearest ancestor that exists (the folder itself may be created by the build)."""
    folder = folder.absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def check_free_disk(folders: Sequence[Path], minimum: int) -> None:
    """Raise `BuildError` if any of `folders` has less than `minimum` bytes free, naming it and the numbers."""
    for folder in folders:
        free = psutil.disk_usage(str(_existing(folder))).free
        if free < minimum:
            raise BuildError(
                f"not enough disk space: {format_size(free)} free in {folder}, the build needs at least "
                f"{format_size(minimum)} (--min-free-disk); free some space, or build elsewhere with --output-dir "
                "(and TMPDIR/TEMP for test environments)"
            )


def check_source_archive(archive: Path, sha256: str | None) -> None:
    """The `--override-source` archive must exist and, if a sha256 is given, match it."""
    if not archive.is_file():
        raise UsageError(f"source archive {archive} not found; give the path of a local file")
    if sha256 is None:
        return
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise UsageError(f"--override-source-sha256 {sha256!r} is not a sha256 (64 hex digits)")
    with archive.open("rb") as f:
        actual = hash_file(f).sha256
    if actual != sha256.lower():
        raise BuildError(
            f"source archive {archive} has sha256 {actual}, expected {sha256.lower()}; "
            "the file is not the one you meant (or is incomplete): copy it again or fix the checksum"
        )
