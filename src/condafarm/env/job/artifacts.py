"""A session's environment artifacts left where the job's outputs go (the render queue environment's
`CondaArtifactsDir`), so a frame can be re-rendered later with exactly its packages: the explicit lockfile, the
pinned YAML, conda-lock.yml and pixi.lock, each naming the request and channels."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ...errors import UsageError
from ..outputs import export_environment


def _replace(folder: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Write `folder/name` whole: `write` fills a new file, renamed over the old one (never written through a link
    there), so concurrent sessions of a job each leave a complete file."""
    handle, partial = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    os.close(handle)
    try:
        write(Path(partial))
        os.replace(partial, folder / name)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return folder / name


def leave_artifacts(prefix: Path, folder: Path) -> list[Path]:
    """Write the artifacts of the environment at `prefix` into `folder` (created if missing); returns them."""
    exported = export_environment(prefix, "condafarm-env")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise NotADirectoryError(str(folder))
    except OSError as exc:
        raise UsageError(
            f"cannot write environment artifacts to {folder}: {exc}; give a folder the job may write"
        ) from exc
    texts = {"condafarm-env.lock.txt": exported.lockfile, "condafarm-env.yml": exported.yaml}
    texts["conda-lock.yml"] = exported.conda_lock
    written = [_replace(folder, name, _text(text)) for name, text in texts.items()]
    return [*written, _replace(folder, "pixi.lock", exported.write_pixi_lock)]


def _text(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return write
