"""Real conda packages for tests and bench/, made with py-rattler-build's `assemble_package` (about 1 ms each)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import zstandard
from rattler_build import ArchiveType, assemble_package

#: conda's classic prefix placeholder: installers replace it with the environment's path.
PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
#: conda-build's binary placeholder is this long, so the path it is replaced with fits in its place.
BINARY_PLACEHOLDER = "/opt/" + "_placehold" * 25


def make_package(
    out_dir: Path,
    name: str = "tool",
    version: str = "1.0",
    build_number: int = 0,
    subdir: str = "noarch",
    *,
    build: str | None = None,
    depends: list[str] | None = None,
    constrains: list[str] | None = None,
    fmt: str = ".conda",
    payload: str = "",
    run_exports: dict[str, Any] | None = None,
    script: bool = False,
    files: dict[str, str] | None = None,
    binary_files: dict[str, str] | None = None,
    license: str = "MIT",
) -> Path:
    """Assemble a package into `out_dir/subdir/`; returns its path.

    `payload` goes into a file so two packages with the same name can differ in content. `script` adds a
    `bin/NAME` shell script that prints NAME and the version, so an installed environment can run it.
    `files` adds more files (relative path -> text); `{prefix}` in a text becomes the path the package is
    installed at (the package records a text-mode prefix placeholder for that file). `binary_files` are the same
    with a binary-mode placeholder: `{prefix}` must end a NUL-terminated string, which keeps its length.
    """
    staging = out_dir / ".staging" / f"{name}-{version}-{build_number}-{subdir}-{len(payload)}"
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "share").mkdir(exist_ok=True)
    (staging / "share" / f"{name}.txt").write_text(f"{name} {version} {payload}\n")
    if script:
        (staging / "bin").mkdir(exist_ok=True)
        exe = staging / "bin" / name
        exe.write_text(f"#!/bin/sh\necho {name} {version} build {build_number}\n")
        exe.chmod(0o755)
    for relative, text in (files or {}).items():
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        (staging / relative).write_text(text.replace("{prefix}", PLACEHOLDER))
    for relative, text in (binary_files or {}).items():
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        (staging / relative).write_bytes(text.replace("{prefix}", BINARY_PLACEHOLDER).encode())
    path = assemble(
        staging,
        out_dir,
        name,
        version,
        build_number,
        subdir,
        build=build,
        depends=depends,
        constrains=constrains,
        fmt=fmt,
        license=license,
    )
    if run_exports is not None:
        add_info_file(path, "info/run_exports.json", json.dumps(run_exports).encode())
    with_prefix = {relative: (PLACEHOLDER, "text") for relative, text in (files or {}).items() if "{prefix}" in text}
    with_prefix.update((relative, (BINARY_PLACEHOLDER, "binary")) for relative in binary_files or {})
    if with_prefix:
        paths = json.loads(read_info_file(path, "info/paths.json"))
        for entry in paths["paths"]:
            if entry["_path"] in with_prefix:
                placeholder, mode = with_prefix[entry["_path"]]
                entry.update(prefix_placeholder=placeholder, file_mode=mode)
        add_info_file(path, "info/paths.json", json.dumps(paths).encode())
    return path


def assemble(
    files_dir: Path,
    out_dir: Path,
    name: str,
    version: str,
    build_number: int = 0,
    subdir: str = "noarch",
    *,
    build: str | None = None,
    depends: list[str] | None = None,
    constrains: list[str] | None = None,
    fmt: str = ".conda",
    license: str = "MIT",
) -> Path:
    """Pack the files under `files_dir` into a package in `out_dir/subdir/`; returns its path."""
    target = out_dir / subdir
    target.mkdir(parents=True, exist_ok=True)
    output = assemble_package(
        name=name,
        version=version,
        target_platform=subdir,
        build_string=build or f"h0_{build_number}",
        output_dir=str(target),
        files_dir=str(files_dir),
        depends=depends or [],
        constrains=constrains or [],
        build_number=build_number,
        noarch="generic" if subdir == "noarch" else None,
        license=license,
        archive_type=ArchiveType.Conda if fmt == ".conda" else ArchiveType.TarBz2,
        compression_level=1,
        detect_prefix=False,
    )
    return Path(output.path)


def read_info_file(conda: Path, member: str) -> bytes:
    """One file of a .conda's info tarball."""
    with zipfile.ZipFile(conda) as zf:
        info_name = next(n for n in zf.namelist() if n.startswith("info-"))
        raw = zstandard.ZstdDecompressor().decompressobj().decompress(zf.read(info_name))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        extracted = tar.extractfile(member)
        assert extracted is not None
        return extracted.read()


def add_info_file(conda: Path, member: str, data: bytes) -> None:
    """Rewrite a .conda's info tarball with one more file in it, or a file replaced (assemble_package cannot
    add run_exports or prefix placeholders)."""
    with zipfile.ZipFile(conda) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    info_name = next(n for n in entries if n.startswith("info-"))
    raw = zstandard.ZstdDecompressor().decompressobj().decompress(entries[info_name])
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(raw)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for item in src.getmembers():
            if item.name == member:
                continue
            dst.addfile(item, src.extractfile(item) if item.isfile() else None)
        extra = tarfile.TarInfo(member)
        extra.size = len(data)
        dst.addfile(extra, io.BytesIO(data))
    entries[info_name] = zstandard.ZstdCompressor().compress(out.getvalue())
    with zipfile.ZipFile(conda, "w", compression=zipfile.ZIP_STORED) as zf:
        for n, d in entries.items():
            zf.writestr(n, d)


def make_channel(root: Path, layout: dict[str, int], fmt_every: int = 0) -> list[Path]:
    """A channel with `count` packages in each subdir of `layout`; every `fmt_every`-th is a .tar.bz2."""
    paths = []
    for subdir, count in layout.items():
        for i in range(count):
            fmt = ".tar.bz2" if fmt_every and i % fmt_every == 0 else ".conda"
            paths.append(
                make_package(
                    root,
                    name=f"pkg{i % 37}",
                    version=f"1.{i // 37}",
                    build_number=i % 3,
                    subdir=subdir,
                    depends=[f"pkg{(i + 1) % 37} >=1.0"] if i % 5 == 0 else [],
                    fmt=fmt,
                )
            )
    return paths


def read_shard(data: bytes) -> dict[str, Any]:
    """Decode a CEP-16 shard file with msgpack and zstandard directly (not through condafarm), with the
    binary sha256/md5 turned back into hex as in repodata.json."""
    import msgpack

    raw = msgpack.unpackb(zstandard.ZstdDecompressor().decompressobj().decompress(data), raw=False)
    for table in ("packages", "packages.conda"):
        for record in raw.get(table, {}).values():
            for field in ("sha256", "md5"):
                if isinstance(record.get(field), bytes):
                    record[field] = record[field].hex()
    return dict(raw)
