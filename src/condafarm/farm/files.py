"""condafarm's farm files (job bundles, queue environments, host setup scripts): where they are, and writing them
out for an administrator to upload.

In a checkout they are the top-level `job_bundles/`, `queue_environments/` and `worker_plugin/host_setup/`
folders, the one place they are edited; a wheel carries copies under `condafarm/farm/files/`, made by the build
step in setup.py, so `pip install condafarm` alone is enough to submit and to set up a farm.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import AlreadyExists, UsageError
from ..safe_files import copy_folder

#: Each folder's name in a wheel and in what `write_farm_files` writes -> its place in a checkout.
FOLDERS = {
    "job_bundles": "job_bundles",
    "queue_environments": "queue_environments",
    "host_setup": "worker_plugin/host_setup",
}
_CHECKOUT = Path(__file__).resolve().parents[3]
_PACKAGED = Path(__file__).resolve().parent / "files"


def farm_folder(name: str) -> Path:
    """One of `FOLDERS`: the checkout's when running from one, else the installed package's copy."""
    for folder in (_CHECKOUT / FOLDERS[name], _PACKAGED / name):
        if folder.is_dir():
            return folder
    raise UsageError(
        f"condafarm's {name} folder is in neither {_CHECKOUT / FOLDERS[name]} nor {_PACKAGED / name}; "
        "reinstall condafarm from a wheel (pip install condafarm)"
    )


def bundles_dir(override: Path | None = None) -> Path:
    """condafarm's job_bundles folder: `override`, else `$CONDAFARM_JOB_BUNDLES`, else the installed one."""
    env = os.environ.get("CONDAFARM_JOB_BUNDLES")
    folder = override or (Path(env) if env else farm_folder("job_bundles"))
    if not (folder / "build_linux" / "template.yaml").is_file():
        raise UsageError(
            f"condafarm's job bundles are not in {folder}; pass --bundles or set CONDAFARM_JOB_BUNDLES to a "
            "folder written by `condafarm farm-files write`"
        )
    return folder


def write_farm_files(destination: Path, *, force: bool = False) -> list[Path]:
    """Copy every farm folder into `destination` (job_bundles/, queue_environments/, host_setup/); returns the
    folders written. An existing one is refused unless `force`, which replaces its files."""
    sources = {name: farm_folder(name) for name in FOLDERS}
    targets = [destination / name for name in FOLDERS]
    in_the_way = [p for p in (destination, *targets) if p.exists() and not p.is_dir()]
    if in_the_way:  # never replaced, not even with --force: it is not one of ours
        raise UsageError(f"{in_the_way[0]} is a file, where a folder goes; move it, or choose another folder")
    existing = [t for t in targets if t.is_dir() and any(t.iterdir())]
    if existing and not force:
        raise AlreadyExists(f"{existing[0]} already exists; choose another folder or pass --force to overwrite it")
    for name, target in zip(FOLDERS, targets, strict=True):
        try:
            copy_folder(
                sources[name], target, overwrite=True, skip=lambda p: p.name == "__pycache__" or p.suffix == ".pyc"
            )
        except OSError as exc:  # a file where one of our folders goes, a read-only folder...
            raise UsageError(
                f"cannot write {target}: {exc}; move what is in the way, or choose another folder"
            ) from exc
    return targets
