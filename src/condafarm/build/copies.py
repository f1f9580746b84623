"""Copies of a recipe folder with some files rewritten, which condafarm builds instead of the user's folder.

A copy lives in the temp folder under a name made from its content, so building the same recipe again (or twice
at once) reuses one, and a changed recipe gets a new one; the user's folder is never written to (rattler-build
writes the recipe it builds into the recipe's folder).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .. import safe_files

ROOT_NAME = "condafarm-converted"


def copy_folder(folder: Path, out: Path, *, overwrite: bool = False) -> None:
    """The recipe folder's files (scripts, patches, tests) into `out`, which may lie inside it; symlinks out of
    the folder are left out, and files already in `out` are replaced only with `overwrite`."""
    inside = out.resolve()
    safe_files.copy_folder(
        folder, out, overwrite=overwrite, skip=lambda p: p.name in (".git", "__pycache__") or p.resolve() == inside
    )


def rewritten_copy(folder: Path, files: Mapping[str, str]) -> Path:
    """A copy of `folder` whose `files` (name -> text) are written in; returns the copy's folder."""
    root = Path(tempfile.gettempdir()) / ROOT_NAME
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for name, text in sorted(files.items()):
        digest.update(f"{name}\0{text}\0".encode())
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    final = root / digest.hexdigest()[:16]
    if not final.is_dir():
        staging = Path(tempfile.mkdtemp(prefix="new-", dir=root))
        try:
            out = staging / folder.name
            copy_folder(folder, out)
            for name, text in files.items():
                safe_files.write_file(out / name, text, overwrite=True)
            os.replace(staging, final)
        except OSError:
            if not final.is_dir():  # else another build of the same recipe put an identical copy there first
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final / folder.name
