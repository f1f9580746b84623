"""What a build records about itself for the channel: recipe and its hash, sources, host, tools, job and times."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..channel.provenance import Provenance, environment
from ..conda.package import hash_file

_SKIP = {".git", "__pycache__", ".pixi", "output"}


def recipe_digest(folder: Path) -> str:
    """sha256 over the recipe folder's files (relative path and bytes, in sorted order): which recipe this was."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not _SKIP & set(p.relative_to(folder).parts)):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as f:
            digest.update(hash_file(f).sha256.encode())
    return digest.hexdigest()


def _source(source: dict[str, Any], recipe_folder: Path) -> dict[str, Any]:
    """One rendered source as the record keeps it: where from, and the sha256 the recipe pins (if any)."""
    kept = {key: source[key] for key in ("url", "git", "rev", "tag", "branch", "sha256", "md5") if source.get(key)}
    if source.get("path"):
        path = Path(str(source["path"]))
        kept["path"] = str(path)
        local = path if path.is_absolute() else recipe_folder / path
        if local.is_file():
            with local.open("rb") as f:
                kept.setdefault("sha256", hash_file(f).sha256)
    return kept


def build_log_location() -> str:
    """Where this build's log went: the Deadline session log of this task, or this terminal."""
    session = os.environ.get("DEADLINE_SESSION_ID")
    if session:
        task = os.environ.get("DEADLINE_TASK_ID", "?")
        return (
            f"the Deadline Cloud log of session {session} (task {task}, job {os.environ.get('DEADLINE_JOB_ID', '?')})"
        )
    return "the standard error of the condafarm build command that ran it"


def built_by(
    recipe_file: Path,
    sources: Sequence[dict[str, Any]],
    archives: Sequence[Path],
    started: float,
    ended: float,
) -> Provenance:
    """The record of a package `condafarm build` made (every output of one build shares it)."""
    overrides = []
    for archive in archives:
        with archive.open("rb") as f:
            overrides.append({"archive": archive.name, "sha256": hash_file(f).sha256})
    record: Provenance = {
        "kind": "built",
        "recipe": {"path": str(recipe_file), "sha256": recipe_digest(recipe_file.parent)},
        "sources": [_source(s, recipe_file.parent) for s in sources],
        "started": _iso(started),
        "ended": _iso(ended),
        "log": build_log_location(),
        **environment(),
    }
    if overrides:
        record["override_sources"] = overrides
    return record


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
