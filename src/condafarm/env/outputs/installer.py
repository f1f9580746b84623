"""`env pack --installer`: an environment as one self-extracting file for hosts with nothing but what the OS
ships (no Python, no conda), installing it relocated to the folder the user gives.

- Linux and macOS: a POSIX sh script (`installer.sh` filled in) followed by the environment as a .tar.gz;
  `sh env.sh PREFIX`.
- Windows: a .bat (`installer.bat` filled in) whose cmd.exe part hands over to Windows PowerShell 5.1, which
  every supported Windows ships, followed by the environment as a .zip; `env.bat PREFIX`.

Where the old prefix sits in each file that embeds it is found now, in Python, with the rule
`condafarm-unpack.py` uses; the installers only splice bytes at those offsets, so any byte in a path survives.
"""

from __future__ import annotations

import base64
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ...errors import UsageError
from ...safe_files import write_streamed
from ..install import read_manifest
from ..request import current_platform
from .pack import Packed, add_environment, prefix_files
from .unpack_script import prefix_spans

HERE = Path(__file__).parent
#: Path bytes written into the sh script as they are; every other byte becomes a `\0ooo` escape for `printf '%b'`.
_PLAIN = re.compile(rb"[A-Za-z0-9._/+@-]")
#: The payload offset is written padded to this width, so filling it in does not move the payload.
_OFFSET_WIDTH = 12


@dataclass(frozen=True)
class Relocation:
    """A file that embeds the prefix: its path in the environment, its mode bits, text or binary, and where each
    occurrence is as (start, end, variant): the bytes replaced, and which spelling of the prefix (0: as the OS
    writes it, 1: with forward slashes, on Windows) was found there."""

    relative: str
    mode: int
    kind: str
    spans: tuple[tuple[int, int, int], ...]


def relocations(prefix: Path) -> list[Relocation]:
    """Every file under `prefix` that packages marked as embedding it and that does, with where it does."""
    variants = list(dict.fromkeys([str(prefix), str(prefix).replace("\\", "/")]))
    found = []
    for relative, mode in prefix_files(prefix):
        parts = Path(relative).parts
        if "\n" in relative or "\r" in relative or Path(relative).is_absolute() or ".." in parts:
            raise UsageError(f"{prefix}: a package lists {relative!r} as a file that embeds the prefix; recreate it")
        path = prefix / relative
        if path.is_symlink() or not path.is_file():
            continue  # nothing to rewrite, and never through a link
        data = path.read_bytes()
        spans: list[tuple[int, int, int]] = []
        for variant, old in enumerate(variants):
            spans += [(start, end, variant) for start, end in prefix_spans(data, old.encode(), mode)]
        kept: list[tuple[int, int, int]] = []
        for span in sorted(spans):
            if not kept or span[0] >= kept[-1][1]:
                kept.append(span)
        if kept:
            kind = "text" if mode == "text" else "binary"
            found.append(Relocation(relative, path.stat().st_mode & 0o7777, kind, tuple(kept)))
    return found


def _sh_path(relative: str) -> str:
    return "".join(
        chr(byte) if _PLAIN.fullmatch(bytes([byte])) else f"\\0{byte:03o}" for byte in relative.encode("utf-8")
    )


def _sh_line(item: Relocation) -> str:
    where = " ".join(f"{start}:{end}" for start, end, _ in item.spans)
    return f"relocate {item.mode:o} {item.kind} '{_sh_path(item.relative)}' {where}"


def _bat_line(item: Relocation) -> str:
    path = base64.b64encode(item.relative.encode("utf-8")).decode()
    return f":: relocate {item.kind} {path} " + " ".join(
        f"{start}:{end}:{variant}" for start, end, variant in item.spans
    )


def _origin(prefix: Path, comment: str) -> list[str]:
    manifest = read_manifest(prefix)
    if manifest is None:
        lines = ["# made from an environment condafarm did not create (no manifest: request and channels unknown)"]
    else:
        lines = manifest.origin.comments()
    lines = [comment + line.removeprefix("#") for line in lines]
    # cmd.exe expands %...% even in comments, and a lone % could end the script there
    return [line.replace("%", "%%") for line in lines] if comment == "rem" else lines


def _fill(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace(f"@{name}@", value)
    return template


def pack_installer(prefix: Path, installer: Path) -> Packed:
    """Write `installer` for the environment at `prefix`: a .bat for a Windows environment, else an sh script
    (see the module docstring)."""
    prefix = prefix.absolute()
    if not (prefix / "conda-meta").is_dir():
        raise UsageError(f"{prefix} is not a conda environment (no conda-meta folder)")
    manifest = read_manifest(prefix)
    windows = (manifest.platform if manifest else current_platform()).startswith("win")
    if windows and installer.suffix.lower() not in (".bat", ".cmd"):
        raise UsageError(f"{installer.name}: a Windows environment's installer is a .bat; name it {installer.stem}.bat")
    found = relocations(prefix)
    values = {
        "OLD_LENGTH": str(len(str(prefix).encode())),
        "BINARY_FILES": str(sum(item.kind == "binary" for item in found)),
    }
    if windows:
        values["ORIGIN"] = "\n".join(_origin(prefix, "rem"))
        values["RELOCATE"] = "\n".join(_bat_line(item) for item in found)
        header = _fill((HERE / "installer.bat").read_text(encoding="utf-8"), values).replace("\n", "\r\n")
    else:
        values["ORIGIN"] = "\n".join(_origin(prefix, "#"))
        values["RELOCATE"] = "\n".join(_sh_line(item) for item in found)
        header = _fill((HERE / "installer.sh").read_text(encoding="utf-8"), values)
    width = " " * _OFFSET_WIDTH
    offset = len(_fill(header, {"PAYLOAD_OFFSET": width, "HEADER_LENGTH": width}).encode())
    # sh's `tail -c +N` counts from 1; PowerShell seeks from 0
    header = _fill(
        header,
        {
            "PAYLOAD_OFFSET": f"{offset + (0 if windows else 1):<{_OFFSET_WIDTH}d}",
            "HEADER_LENGTH": f"{offset:<{_OFFSET_WIDTH}d}",
        },
    )
    counted: list[int] = []

    def write(out: IO[bytes]) -> None:
        out.write(header.encode())
        if windows:
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
                counted.append(_add_to_zip(archive, prefix))
        else:
            with tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as tar:
                counted.append(add_environment(tar, prefix))

    write_streamed(installer, write, mode=0o755)
    files = counted[0]
    install = f"{installer.name} PREFIX" if windows else f"sh {installer.name} PREFIX"
    return Packed(installer, files, len(found), installer.stat().st_size, install)


def _add_to_zip(archive: zipfile.ZipFile, prefix: Path) -> int:
    files = 0
    for path in sorted(prefix.rglob("*")):
        if path.is_file():
            archive.write(path, path.relative_to(prefix).as_posix())
            files += 1
    return files
