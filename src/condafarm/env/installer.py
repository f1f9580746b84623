"""`env pack --installer`: an environment as one self-extracting POSIX sh script for Linux and macOS hosts with
nothing but what the OS ships (no Python, no conda): `sh env.sh PREFIX` installs it relocated to PREFIX.

The script (`installer.sh`, filled in here) is followed by the environment as a .tar.gz. Where the old prefix
sits in each file that embeds it is found now, in Python, with the rule `condafarm-unpack.py` uses; the script
only splices bytes at those offsets with `tail`, `head` and `printf`, so any byte in a path or file survives.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from ..errors import UsageError
from .create import read_manifest
from .pack import Packed, add_environment, prefix_files
from .unpack_script import prefix_spans

TEMPLATE = Path(__file__).with_name("installer.sh")
#: Path bytes written into the script as they are; every other byte becomes a `\0ooo` escape for `printf '%b'`.
_PLAIN = re.compile(rb"[A-Za-z0-9._/+@-]")
#: The payload offset is written padded to this width, so filling it in does not move the payload.
_OFFSET_WIDTH = 12


def _escaped(relative: str) -> str:
    return "".join(
        chr(byte) if _PLAIN.fullmatch(bytes([byte])) else f"\\0{byte:03o}" for byte in relative.encode("utf-8")
    )


def _relocation_lines(prefix: Path) -> tuple[list[str], int]:
    """One `relocate MODE KIND 'PATH' START:END...` line per file that embeds the prefix, and how many of them
    are binary."""
    old = str(prefix).encode()
    lines, binary = [], 0
    for relative, mode in prefix_files(prefix):
        parts = Path(relative).parts
        if "\n" in relative or Path(relative).is_absolute() or ".." in parts:
            raise UsageError(f"{prefix}: a package lists {relative!r} as a file that embeds the prefix; recreate it")
        path = prefix / relative
        if path.is_symlink() or not path.is_file():
            continue  # nothing to rewrite, and never through a link
        spans = prefix_spans(path.read_bytes(), old, mode)
        if not spans:
            continue
        kind = "text" if mode == "text" else "binary"
        binary += kind == "binary"
        where = " ".join(f"{start}:{end}" for start, end in spans)
        lines.append(f"relocate {path.stat().st_mode & 0o7777:o} {kind} '{_escaped(relative)}' {where}")
    return lines, binary


def _origin(prefix: Path) -> str:
    manifest = read_manifest(prefix)
    if manifest is None:
        return "# made from an environment condafarm did not create (no manifest: request and channels unknown)"
    return "\n".join(manifest.origin.comments())


def pack_installer(prefix: Path, installer: Path) -> Packed:
    """Write `installer`, a self-extracting sh script installing the environment at `prefix` where it is run
    with (see the module docstring)."""
    prefix = prefix.absolute()
    if not (prefix / "conda-meta").is_dir():
        raise UsageError(f"{prefix} is not a conda environment (no conda-meta folder)")
    relocations, binary = _relocation_lines(prefix)
    header = TEMPLATE.read_text(encoding="utf-8")
    for name, value in (
        ("@ORIGIN@", _origin(prefix)),
        ("@OLD_LENGTH@", str(len(str(prefix).encode()))),
        ("@BINARY_FILES@", str(binary)),
        ("@RELOCATE@", "\n".join(relocations)),
    ):
        header = header.replace(name, value)
    offset = len(header.replace("@PAYLOAD_OFFSET@", " " * _OFFSET_WIDTH).encode()) + 1
    header = header.replace("@PAYLOAD_OFFSET@", f"{offset:<{_OFFSET_WIDTH}d}")
    installer.parent.mkdir(parents=True, exist_ok=True)
    partial = installer.with_name(installer.name + ".partial")
    with partial.open("wb") as out:
        out.write(header.encode())
        with tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as tar:
            files = add_environment(tar, prefix)
    partial.chmod(0o755)
    partial.replace(installer)
    return Packed(installer, files, len(relocations), installer.stat().st_size)
