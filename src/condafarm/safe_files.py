"""Writing files and copying folders on this host without ever writing through a symlink, or following one out
of the folder being read.

A recipe folder, a session folder or an output folder may hold symlinks someone else planted: `recipe.yaml ->
~/.bashrc` would make a plain `write_text` write the shell profile, and a copy that follows `secret -> ~/.aws/
credentials` puts the key into a job attachment. So a file is written to a temporary sibling and renamed over its
name (a symlink there is replaced, not followed), an existing name is replaced only when asked, and a copy takes
a symlink only where it leads to a file inside the folder being copied.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from .errors import AlreadyExists, UsageError
from .storage.files import replace, write_temp

log = logging.getLogger(__name__)


def occupied(path: Path) -> bool:
    """Whether anything is at `path`: a file, a folder, or a symlink (even one that leads nowhere)."""
    return os.path.lexists(path)


def write_file(path: Path, data: bytes | str, *, overwrite: bool = False) -> Path:
    """Write `data` (str as UTF-8) to `path` atomically; a symlink at `path` is replaced by the file, never
    written through. Without `overwrite`, anything already at `path` raises `AlreadyExists`; a folder always does."""
    if occupied(path) and (not overwrite or (path.is_dir() and not path.is_symlink())):
        what = "a symlink" if path.is_symlink() else "a folder" if path.is_dir() else "a file"
        raise AlreadyExists(f"{path} exists ({what}); remove it, choose another name, or pass --force to replace it")
    body = data.encode("utf-8") if isinstance(data, str) else data
    return write_streamed(path, lambda f: f.write(body))


def write_streamed(path: Path, write: Callable[[IO[bytes]], object], *, mode: int | None = None) -> Path:
    """Write `path` from what `write` writes to an open file (archives, made as they are written), replacing
    what is there: `write` fills a temporary sibling whose name no one can guess (a fixed `.partial` name could
    be planted as a symlink beforehand), which gets `mode` and is renamed over `path`, never written through."""
    tmp = write_temp(path, write)
    try:
        if mode is not None:
            tmp.chmod(mode)
        replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def inside(path: Path, folder: Path) -> bool:
    """Whether `path`, with every symlink followed, lies inside `folder` (with its symlinks followed)."""
    return path.resolve().is_relative_to(folder.resolve())


def copy_folder(
    source: Path,
    target: Path,
    *,
    overwrite: bool = False,
    skip: Callable[[Path], bool] = lambda path: False,
) -> list[Path]:
    """Copy `source`'s files into `target` (made if missing); returns the files written.

    A symlink in `source` is copied as the file or folder it leads to only where that lies inside `source`;
    one that leads out (or nowhere) is left out with a warning. Nothing is written when a file to write is
    already in `target` (unless `overwrite`) or a folder to write into is a symlink: `UsageError` names it.
    `skip(path)` leaves a path of `source` (and what is under it) out.
    """
    plan = list(_plan(source, target, skip))
    for _, dst in plan:
        for folder in (dst.parent, *dst.parent.parents):
            if folder == target.parent:
                break
            if folder.is_symlink():
                raise UsageError(f"{folder} is a symlink; condafarm does not write through one: remove it")
        if occupied(dst) and not overwrite:
            raise UsageError(f"{dst} exists; choose an empty --out folder, or pass --force to replace files")
    for src, dst in plan:
        dst.parent.mkdir(parents=True, exist_ok=True)
        write_file(dst, src.read_bytes(), overwrite=True)
        shutil.copymode(src, dst)
    return [dst for _, dst in plan]


def _plan(source: Path, target: Path, skip: Callable[[Path], bool]) -> Iterable[tuple[Path, Path]]:
    for folder, folders, files in os.walk(source, followlinks=False):
        here = Path(folder)
        for name in sorted(folders):
            path = here / name
            if skip(path):
                folders.remove(name)
            elif path.is_symlink():
                folders.remove(name)
                if _leads_inside(path, source):
                    yield from _plan_linked(path, source, target, skip)
        for name in sorted(files):
            path = here / name
            if skip(path) or (path.is_symlink() and not _leads_inside(path, source)):
                continue
            if path.is_file():
                yield path, target / path.relative_to(source)


def _plan_linked(link: Path, source: Path, target: Path, skip: Callable[[Path], bool]) -> Iterable[tuple[Path, Path]]:
    """The files under a symlinked folder that leads inside `source`, copied under the link's own name."""
    real = link.resolve()
    if real == source.resolve() or source.resolve().is_relative_to(real):
        log.warning("%s leads to a folder holding it; left out of the copy", link)
        return
    yield from _plan(real, target / link.relative_to(source), skip)


def _leads_inside(link: Path, source: Path) -> bool:
    if link.exists() and inside(link, source):
        return True
    log.warning("%s is a symlink out of %s (or to nothing); left out of the copy", link, source)
    return False


__all__ = ["copy_folder", "inside", "occupied", "write_file", "write_streamed"]
