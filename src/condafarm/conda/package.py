"""Read a conda package's metadata and hashes from a file object, never extracting anything to disk.

Works on any binary file object, so the same code reads a local file and an S3 object through ranged reads
(`storage.s3.RangeReader`). A `.conda` is a zip: the reader takes only the `info-*.tar.zst` member, which a
ranged reader fetches in one or two requests. We use `zipfile` + `zstandard` rather than
conda-package-streaming: the reading must go through our storage layer (one boto3 client, request counting,
If-Match on every range) and enforce size limits, which a thin reader here does with no extra dependency.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import tarfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

import zstandard

from ..errors import PackageError
from .plain_conda import info_members
from .validate import check_record

PACKAGE_EXTENSIONS = (".conda", ".tar.bz2")

#: Largest `info/index.json` or `info/run_exports.json` accepted; real ones are a few kB.
MAX_JSON_MEMBER = 16 * 1024 * 1024
#: Largest compressed `info-*.tar.zst` accepted (big packages carry large `info/paths.json`).
MAX_INFO_MEMBER = 1024 * 1024 * 1024
#: Largest uncompressed info tar `read_metadata_bytes` reads without `tarfile` (a small package's is a few kB).
PLAIN_INFO_TAR = 4 * 1024 * 1024
HASH_CHUNK = 8 * 1024 * 1024

# ASCII only, spelled out: with re.IGNORECASE, [a-z] also matches look-alikes such as the Kelvin sign and long s.
_VALID_NAME = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_.\-]*$")
#: conda's spellings of an index.json `platform` (its Platform enum accepts a member's name or value).
_PLATFORM_NAMES = {"darwin": "osx", "win32": "win"}


@dataclass(frozen=True)
class Hashes:
    md5: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PackageMetadata:
    """What the index needs from a package's `info/` folder.

    `index` is `info/index.json`, with `subdir` derived from `platform`/`arch` for old packages that lack it.
    """

    index: dict[str, Any]
    run_exports: dict[str, Any] | None


def split_filename(filename: str) -> tuple[str, str, str, str]:
    """`(name, version, build, extension)` of a package filename, or `PackageError` if it is not one."""
    for ext in PACKAGE_EXTENSIONS:
        if filename.endswith(ext):
            stem = filename[: -len(ext)]
            parts = stem.rsplit("-", 2)
            if len(parts) == 3 and all(parts) and _VALID_NAME.match(parts[0]):
                return parts[0], parts[1], parts[2], ext
            raise PackageError(
                f"{filename}: not a package filename (expected NAME-VERSION-BUILD{ext}, "
                "NAME of ASCII letters, digits, '_', '.' and '-')"
            )
    raise PackageError(f"{filename}: not a conda package (expected .conda or .tar.bz2)")


def is_package_filename(filename: str) -> bool:
    return filename.endswith(PACKAGE_EXTENSIONS) and not filename.startswith(".")


def hash_file(fileobj: IO[bytes]) -> Hashes:
    """md5, sha256 and size of everything readable from `fileobj`, in one pass."""
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    while chunk := fileobj.read(HASH_CHUNK):
        md5.update(chunk)
        sha256.update(chunk)
        size += len(chunk)
    return Hashes(md5.hexdigest(), sha256.hexdigest(), size)


def hash_bytes(data: bytes) -> Hashes:
    return Hashes(hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(), len(data))


def hashes_from_metadata(metadata: dict[str, str], size: int) -> Hashes | None:
    """Hashes stored as object metadata by our publisher and rattler's uploader, if both are there."""
    sha256 = metadata.get("package-sha256", "").lower()
    md5 = metadata.get("package-md5", "").lower()
    if re.fullmatch(r"[0-9a-f]{64}", sha256) and re.fullmatch(r"[0-9a-f]{32}", md5):
        return Hashes(md5, sha256, size)
    return None


class HashingReader:
    """Wraps a stream and hashes every byte read through it, so one pass both parses and hashes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._md5, self._sha256, self._size = hashlib.md5(), hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._md5.update(data)
        self._sha256.update(data)
        self._size += len(data)
        return data

    def finish(self) -> Hashes:
        """Read the rest of the stream and return the hashes of all of it."""
        while self.read(HASH_CHUNK):
            pass
        return Hashes(self._md5.hexdigest(), self._sha256.hexdigest(), self._size)


def read_metadata(
    fileobj: IO[bytes] | HashingReader, filename: str, *, prefetch: Callable[[int, int], None] | None = None
) -> PackageMetadata:
    """Read `info/index.json` and `info/run_exports.json` from a package.

    A `.conda` needs a seekable `fileobj`; a `.tar.bz2` is read as a stream. `prefetch(start, end)`, where the
    file fetches byte ranges on demand, is told the one range the info member needs, so it costs one request.
    Raises `PackageError` naming the file and the reason for anything corrupt, truncated, oversized or malformed.
    """
    try:
        if filename.endswith(".conda"):
            return _read_conda(fileobj, filename, prefetch)  # type: ignore[arg-type]
        with tarfile.open(fileobj=fileobj, mode="r|bz2") as tar:  # type: ignore[call-overload]
            return _read_info_tar(tar, filename, prefix="info/")
    except PackageError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise PackageError(f"{filename}: corrupt .conda (not a valid zip: {exc})") from exc
    except RuntimeError as exc:  # zipfile: an encrypted member; NotImplementedError: a newer zip version, a method
        raise PackageError(f"{filename}: unsupported .conda ({exc})") from exc
    except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        raise PackageError(f"{filename}: corrupt or truncated package ({reason})") from exc


def _read_conda(fileobj: IO[bytes], filename: str, prefetch: Callable[[int, int], None] | None) -> PackageMetadata:
    stem = filename[: -len(".conda")]
    with zipfile.ZipFile(fileobj) as zf:
        try:
            member = zf.getinfo(f"info-{stem}.tar.zst")
        except KeyError:
            names = [n for n in zf.namelist() if n.startswith("info-") and n.endswith(".tar.zst")]
            if len(names) != 1:
                raise PackageError(f"{filename}: no info-{stem}.tar.zst inside; not a valid .conda") from None
            member = zf.getinfo(names[0])
        if member.compress_size > MAX_INFO_MEMBER:
            raise PackageError(f"{filename}: info member is {member.compress_size} bytes, over the limit")
        if prefetch is not None:
            # Local header (30 bytes + name + extra field) and data in one ranged request.
            start = member.header_offset
            prefetch(start, start + 30 + len(member.orig_filename) + 1024 + member.compress_size)
        with zf.open(member) as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                return _read_info_tar(tar, filename, prefix="info/")


def read_metadata_bytes(data: bytes, filename: str) -> PackageMetadata:
    """`read_metadata` of a package held in memory: a plain `.conda` (`plain_conda.py`) is read without
    `zipfile` and `tarfile`, about four times faster; any other goes to `read_metadata`, which decides."""
    if filename.endswith(".conda"):
        members = info_members(data, filename[: -len(".conda")], _WANTED, PLAIN_INFO_TAR)
        if members is not None:
            found: dict[str, Any] = {}
            for name, body in members:
                _take(found, name.decode(), len(body), functools.partial(bytes, body), filename)
            return _metadata(found, filename)
    return read_metadata(io.BytesIO(data), filename)


#: The `info/` members the index reads, by name inside the info tar.
_MEMBERS = {"info/index.json": "index", "info/run_exports.json": "run_exports"}
_WANTED = tuple(name.encode() for name in _MEMBERS)


def _read_info_tar(tar: tarfile.TarFile, filename: str, prefix: str) -> PackageMetadata:
    found: dict[str, Any] = {}
    for info in tar:
        name = info.name.removeprefix("./")
        if name not in _MEMBERS:
            if found.get("index") is not None and not name.startswith(prefix) and filename.endswith(".tar.bz2"):
                # conda-build and rattler-build write info/ first; past it only the payload is left.
                break
            continue
        if not info.isfile():
            raise PackageError(f"{filename}: {name} is not a regular file")
        extracted = tar.extractfile(info)
        assert extracted is not None
        _take(found, name, info.size, extracted.read, filename)
    return _metadata(found, filename)


def _take(found: dict[str, Any], name: str, size: int, read: Callable[[], bytes], filename: str) -> None:
    """Parse one wanted member of `size` bytes into `found`; a later one of the same name replaces it."""
    if size > MAX_JSON_MEMBER:
        raise PackageError(f"{filename}: {name} is {size} bytes, over the {MAX_JSON_MEMBER} limit")
    try:
        found[_MEMBERS[name]] = json.loads(read())
    except (ValueError, RecursionError) as exc:
        raise PackageError(f"{filename}: {name} is not valid JSON ({exc})") from exc


def _metadata(found: dict[str, Any], filename: str) -> PackageMetadata:
    index = found.get("index")
    if not isinstance(index, dict):
        raise PackageError(f"{filename}: no info/index.json inside; not a conda package")
    if index.get("subdir") is None:
        index["subdir"] = derive_subdir(index)
    run_exports = found.get("run_exports")
    if run_exports is not None and not isinstance(run_exports, dict):
        raise PackageError(f"{filename}: info/run_exports.json is not an object")
    return PackageMetadata(index=index, run_exports=run_exports or None)


def derive_subdir(index: Mapping[str, Any]) -> str:
    """The subdir of an old package whose index.json has none, from `platform` and `arch` as conda derives it.

    `linux` + `x86_64` is `linux-64`, `x86` is `32`, other arches are kept (`osx` + `arm64` is `osx-arm64`); a
    package without both is `noarch` (conda would fall back to the running machine's subdir, meaningless here).
    """
    platform, arch = index.get("platform"), index.get("arch")
    if not platform or not arch:
        return "noarch"
    platform = _PLATFORM_NAMES.get(str(platform), str(platform))
    if "x86" in str(arch):
        arch = "64" if "64" in str(arch) else "32"
    return f"{platform}-{arch}"


def check_matches(metadata: PackageMetadata, filename: str, subdir: str) -> dict[str, Any]:
    """The package's index.json, checked against its filename and the subdir it sits in, and checked to make a
    record every conda client can read (`validate.check_record`).

    Returns a copy of the index.json. Raises `PackageError` on disagreement: a package whose metadata lies
    about its name would install something other than what a spec asked for.
    """
    name, version, build, _ = split_filename(filename)
    index = dict(metadata.index)
    for field, expected in (("name", name), ("version", version), ("build", build)):
        actual = index.get(field)
        if str(actual) != expected:
            raise PackageError(
                f"{filename}: index.json says {field}={actual!r} but the filename says {expected!r}; "
                "rename the file to NAME-VERSION-BUILD from its metadata or rebuild it"
            )
    if not isinstance(index.get("build_number"), int):
        raise PackageError(f"{filename}: index.json has no integer build_number")
    built_for = index.get("subdir")
    if built_for != subdir:
        raise PackageError(
            f"{filename}: built for subdir {built_for!r} but sits in {subdir!r}; move it to {built_for}/"
        )
    check_record(index, metadata.run_exports, filename)
    return index
