"""`env pack`: an environment as one relocatable .tar.gz, for hosts with no access to the channel.

The archive holds the environment's files, `.condafarm/relocate.json` (the files that embed its path, from each
package's `conda-meta` record: the files installed with a prefix placeholder; and the request and channels the
environment came from) and `condafarm-unpack.py`, which rewrites that path after extraction:
`tar -xzf env.tar.gz -C DEST && python DEST/condafarm-unpack.py`.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ...errors import UsageError
from ...safe_files import write_streamed
from ..install import read_manifest
from . import unpack_script

UNPACK = "condafarm-unpack.py"


@dataclass(frozen=True)
class Packed:
    archive: Path
    files: int
    relocated: int
    size: int
    #: How to install it on the target host, for an installer.
    install: str = ""


def prefix_files(prefix: Path) -> list[tuple[str, str]]:
    """(relative path, text|binary) of every installed file that embeds the prefix."""
    found = []
    for record in sorted((prefix / "conda-meta").glob("*.json")):
        data = json.loads(record.read_text(encoding="utf-8"))
        for entry in data.get("paths_data", {}).get("paths", []):
            if entry.get("prefix_placeholder"):
                found.append((entry["_path"], entry.get("file_mode", "text")))
    return found


def add_environment(tar: tarfile.TarFile, prefix: Path) -> int:
    """Add every file of the environment at `prefix` (symlinks as links) to `tar`; returns how many."""
    files = 0
    for path in sorted(prefix.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        tar.add(path, arcname=path.relative_to(prefix).as_posix(), recursive=False)
        files += 1
    return files


def pack_environment(prefix: Path, archive: Path) -> Packed:
    """Write `archive` (.tar.gz) from the environment at `prefix`; see the module docstring for unpacking."""
    prefix = prefix.absolute()
    if not (prefix / "conda-meta").is_dir():
        raise UsageError(f"{prefix} is not a conda environment (no conda-meta folder)")
    relocate = prefix_files(prefix)
    manifest = read_manifest(prefix)
    origin = {"request": list(manifest.packages), "channels": list(manifest.channels)} if manifest else {}
    info = json.dumps({"prefix": str(prefix), "files": relocate, **origin}).encode()
    script = Path(unpack_script.__file__).read_bytes()
    files: list[int] = []

    def write(out: IO[bytes]) -> None:
        with tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as tar:
            files.append(add_environment(tar, prefix))
            for name, data, mode in ((".condafarm/relocate.json", info, 0o644), (UNPACK, script, 0o755)):
                member = tarfile.TarInfo(name)
                member.size, member.mode = len(data), mode
                tar.addfile(member, io.BytesIO(data))

    write_streamed(archive, write)
    return Packed(archive, files[0], len(relocate), archive.stat().st_size)
