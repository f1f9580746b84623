"""The plain-`.conda` reader (`conda/plain_conda.py`) reads what the reference reader reads, and nothing else.

Every case compares `read_metadata_bytes` (plain reader first) with `read_metadata` (zipfile + tarfile) on the
same bytes: the same metadata, or the same error. Damaged packages are made by flipping each byte of a real
package and of its info tar's headers, so every check the plain reader mirrors is exercised.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from support.packages import make_package

from condafarm import index_channel, parse_channel
from condafarm.conda import package
from condafarm.conda.package import read_metadata, read_metadata_bytes
from condafarm.conda.plain_conda import info_members
from condafarm.errors import PackageError

WANTED = (b"info/index.json", b"info/run_exports.json")
GNU = tarfile.GNU_FORMAT


def outcome(read: Callable[[bytes, str], object], data: bytes, filename: str) -> object:
    try:
        return read(data, filename)
    except Exception as exc:  # the reference may raise more than PackageError; both must raise the same
        return (type(exc).__name__, str(exc))


def reference(data: bytes, filename: str) -> object:
    return read_metadata(io.BytesIO(data), filename)


def assert_same(data: bytes, filename: str) -> None:
    assert outcome(read_metadata_bytes, data, filename) == outcome(reference, data, filename)


def is_plain(data: bytes, filename: str) -> bool:
    return info_members(data, filename.removesuffix(".conda"), WANTED, package.PLAIN_INFO_TAR) is not None


@pytest.fixture(scope="module")
def conda(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """A package as rattler-build writes it (zip64 extra fields, GNU tar), with run_exports added."""
    path = make_package(tmp_path_factory.mktemp("pkg"), "plain", depends=["python >=3.10"])
    return path.read_bytes(), path.name


@pytest.fixture(scope="module")
def rewritten(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """A package whose zip and tar Python wrote (no zip64 extras, POSIX tar)."""
    path = make_package(tmp_path_factory.mktemp("pkg"), "rewritten", run_exports={"weak": ["rewritten >=1.0"]})
    return path.read_bytes(), path.name


def split(data: bytes) -> tuple[dict[str, bytes], str, bytes]:
    """The zip's members, the info member's name and its tar, uncompressed."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    info = next(n for n in members if n.startswith("info-"))
    return members, info, zstandard.ZstdDecompressor().stream_reader(members[info]).read()


def rebuild(members: dict[str, bytes], info: str, tar: bytes, compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for name, body in members.items():
            zf.writestr(name, zstandard.ZstdCompressor().compress(tar) if name == info else body)
    return out.getvalue()


def retar(tar: bytes, change: Callable[[tarfile.TarFile, tarfile.TarFile], None], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tar)) as src, tarfile.open(fileobj=out, mode="w", format=fmt) as dst:
        change(src, dst)
    return out.getvalue()


def test_plain_packages_are_read_without_zipfile_and_tarfile_to_the_same_metadata(
    conda: tuple[bytes, str], rewritten: tuple[bytes, str]
) -> None:
    for data, filename in (conda, rewritten):
        assert is_plain(data, filename)
        assert read_metadata_bytes(data, filename) == reference(data, filename)
    assert read_metadata_bytes(*rewritten).run_exports == {"weak": ["rewritten >=1.0"]}


def test_every_flipped_byte_of_a_package_reads_as_the_reference_reads_it(conda: tuple[bytes, str]) -> None:
    data, filename = conda
    plain = 0
    for i in range(len(data)):
        damaged = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
        assert_same(damaged, filename)
        plain += is_plain(damaged, filename)
    for cut in range(0, len(data), 7):
        assert_same(data[:cut], filename)
    assert 0 < plain < len(data)  # payload bytes are not read; headers and the info member are checked


def test_every_flipped_byte_of_the_info_tar_headers_reads_as_the_reference_reads_it(
    conda: tuple[bytes, str],
) -> None:
    data, filename = conda
    members, info, tar = split(data)
    plain = 0
    for i in range(min(len(tar), 3 * 512)):
        for value in (tar[i] ^ 0xFF, 0x20, 0x00, 0x37):
            damaged = rebuild(members, info, tar[:i] + bytes([value]) + tar[i + 1 :])
            assert_same(damaged, filename)
            plain += is_plain(damaged, filename)
    assert plain > 0


def _copy(src: tarfile.TarFile, dst: tarfile.TarFile, extra: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    for item in src.getmembers():
        dst.addfile(item, src.extractfile(item) if item.isfile() else None)
    for item, body in extra:
        dst.addfile(item, io.BytesIO(body))


def _member(name: str, body: bytes = b"", kind: bytes = tarfile.REGTYPE) -> tuple[tarfile.TarInfo, bytes]:
    item = tarfile.TarInfo(name)
    item.size, item.type = (len(body), kind) if kind == tarfile.REGTYPE else (0, kind)
    return item, body


@pytest.mark.parametrize(
    ("case", "extra", "fmt"),
    [
        ("duplicate index.json", [_member("info/index.json", b"{}")], GNU),
        ("run_exports.json that is a folder", [_member("info/run_exports.json", kind=tarfile.DIRTYPE)], GNU),
        ("run_exports.json that is a link", [_member("info/run_exports.json", kind=tarfile.SYMTYPE)], GNU),
        ("a GNU long name", [_member("info/" + "x" * 120, b"1")], GNU),
        ("a pax header", [_member("info/" + "y" * 120, b"1")], tarfile.PAX_FORMAT),
        ("run_exports.json not JSON", [_member("info/run_exports.json", b"{")], tarfile.USTAR_FORMAT),
        ("run_exports.json not an object", [_member("info/run_exports.json", b"[]")], tarfile.USTAR_FORMAT),
        ("./ prefixed run_exports", [_member("./info/run_exports.json", b'{"weak": ["a"]}')], GNU),
    ],
)
def test_unusual_info_tars_read_as_the_reference_reads_them(
    conda: tuple[bytes, str], case: str, extra: list[tuple[tarfile.TarInfo, bytes]], fmt: int
) -> None:
    data, filename = conda
    members, info, tar = split(data)
    damaged = rebuild(members, info, retar(tar, lambda src, dst: _copy(src, dst, extra), fmt))
    assert_same(damaged, filename)


def test_unusual_zips_read_as_the_reference_reads_them(conda: tuple[bytes, str]) -> None:
    data, filename = conda
    members, info, tar = split(data)
    deflated = rebuild(members, info, tar, zipfile.ZIP_DEFLATED)
    commented = data[:-2] + b"\x04\x00abcd"
    for damaged in (deflated, b"junk" + data, data + b"junk", commented, data[:-22]):
        assert_same(damaged, filename)
        assert not is_plain(damaged, filename)


def test_an_info_tar_over_the_limit_goes_to_the_reference(
    conda: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, filename = conda
    monkeypatch.setattr(package, "PLAIN_INFO_TAR", 100)
    assert not is_plain(data, filename)
    assert read_metadata_bytes(data, filename) == reference(data, filename)


def test_a_folder_channel_is_indexed_with_the_plain_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_package(tmp_path, "folder", run_exports={"weak": ["folder"]})

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a plain package went to the reference reader")

    monkeypatch.setattr(package, "read_metadata", refused)
    report = index_channel(parse_channel(str(tmp_path)))
    assert report.total("added") == 1
    record = json.loads((tmp_path / "noarch" / "repodata.json").read_bytes())["packages.conda"]
    assert record["folder-1.0-h0_0.conda"]["run_exports"] == {"weak": ["folder"]}


def _unicode_path(raw: str, name: str) -> bytes:
    """An Info-ZIP Unicode Path extra field naming the entry whose raw name is `raw` `name` instead."""
    body = struct.pack("<BL", 1, zlib.crc32(raw.encode())) + name.encode()
    return struct.pack("<HH", 0x7075, len(body)) + body


def test_a_member_renamed_by_a_unicode_path_field_goes_to_the_reference(conda: tuple[bytes, str]) -> None:
    """zipfile 3.12+ reads an entry `zzz` whose Unicode Path field says `info-STEM.tar.zst` as the info member
    (the last of that name); reading the entry whose raw name it is would index other metadata."""
    data, filename = conda
    members, info, tar = split(data)
    evil = retar(tar, lambda src, dst: _copy(src, dst, [_member("info/run_exports.json", b'{"weak": ["evil"]}')]), GNU)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
        renamed = zipfile.ZipInfo("zzz")
        renamed.extra = _unicode_path("zzz", info)
        zf.writestr(renamed, zstandard.ZstdCompressor().compress(evil))
    assert not is_plain(out.getvalue(), filename)
    assert_same(out.getvalue(), filename)


def test_overlapping_members_go_to_the_reference(conda: tuple[bytes, str]) -> None:
    """zipfile 3.11.8+/3.12.2+ refuses a member whose data holds another entry's local header (a zip bomb)."""
    data, filename = conda
    members, info, tar = split(data)
    rebuilt = bytearray(rebuild(members, info, tar))
    with zipfile.ZipFile(io.BytesIO(rebuilt)) as zf:
        inside = zf.getinfo(info).header_offset + 30 + len(info) + 8
        pos = zf.start_dir
    while rebuilt[pos : pos + 4] == b"PK\x01\x02":  # point every other entry's local header into the info data
        name_len, extra_len, comment_len = struct.unpack_from("<3H", rebuilt, pos + 28)
        if rebuilt[pos + 46 : pos + 46 + name_len] != info.encode():
            struct.pack_into("<L", rebuilt, pos + 42, inside)
        pos += 46 + name_len + extra_len + comment_len
    assert not is_plain(bytes(rebuilt), filename)
    assert_same(bytes(rebuilt), filename)


@pytest.mark.parametrize(("flag", "version"), [(0x1, 20), (0, 64)], ids=["encrypted", "zip 6.4"])
def test_a_zip_that_zipfile_cannot_open_is_skipped_not_a_crash(tmp_path: Path, flag: int, version: int) -> None:
    """zipfile raises RuntimeError (encrypted) and NotImplementedError (a newer zip version): a package file that
    claims either is skipped with its reason, and the rest of the channel is indexed."""
    make_package(tmp_path, "good")
    path = make_package(tmp_path, "bad")
    data = bytearray(path.read_bytes())
    pos = data.index(b"PK\x01\x02")
    while data[pos : pos + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<3H", data, pos + 28)
        data[pos + 6] = version
        struct.pack_into("<H", data, pos + 8, struct.unpack_from("<H", data, pos + 8)[0] | flag)
        pos += 46 + name_len + extra_len + comment_len
    path.write_bytes(data)
    assert_same(bytes(data), path.name)
    report = index_channel(parse_channel(str(tmp_path)))
    assert report.total("added") == 1 and "bad-1.0-h0_0.conda" in report.subdirs[0].skipped


def test_json_nested_too_deeply_is_a_package_error_on_both_readers(conda: tuple[bytes, str]) -> None:
    """json.loads raises RecursionError, no ValueError, for deep nesting: it must skip the file, not end the run."""
    data, filename = conda
    members, info, tar = split(data)
    deep = [_member("info/run_exports.json", b"[" * 100_000 + b"]" * 100_000)]
    damaged = rebuild(members, info, retar(tar, lambda src, dst: _copy(src, dst, deep), GNU))
    assert is_plain(damaged, filename)
    for read in (read_metadata_bytes, reference):
        with pytest.raises(PackageError, match="not valid JSON"):
            read(damaged, filename)
