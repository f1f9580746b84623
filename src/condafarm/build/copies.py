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

ROOT_NAME = "condafarm-converted"


def copy_folder(folder: Path, out: Path) -> None:
    """The recipe folder's files (scripts, patches, tests) into `out`, which may lie inside it."""
    inside = out.resolve()

    def ignore(where: str, names: list[str]) -> list[str]:
        return [n for n in names if n in (".git", "__pycache__") or (Path(where) / n).resolve() == inside]

    shutil.copytree(folder, out, ignore=ignore, dirs_exist_ok=True)


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
                (out / name).write_text(text, encoding="utf-8")
            os.replace(staging, final)
        except OSError:
            if not final.is_dir():  # else another build of the same recipe put an identical copy there first
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final / folder.name
