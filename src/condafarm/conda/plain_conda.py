"""The `info/` files of a `.conda` held in memory, read without `zipfile` and `tarfile` when it is a plain one.

Reading a small package with `zipfile` + `tarfile` is ~250 us of Python per file, most of a cold local index
(figures in bench/README.md). Every builder writes the same plain shape: a zip with stored members and no
comment, an `info-*.tar.zst` member holding a ustar/GNU tar of regular files. This module reads that shape
with a few slices of the bytes and answers None for anything else (compression, zip64 values, a pax or long-name
header, a bad checksum, a duplicate member, a truncated or oversized part...), where the caller reads the
package with `package.read_metadata`, the reference. So it never decides an error and never accepts a file
the reference would refuse: each check below mirrors one the reference makes (tests/test_plain_conda.py
compares both on damaged packages).
"""

from __future__ import annotations

import re
import struct
import threading
import zlib

import zstandard

_EOCD = struct.Struct("<4s4H2LH")  # zipfile's structEndArchive
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # zipfile's structCentralDir
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader
_ZIP64_LOCATOR = b"PK\x06\x07"
#: zipfile refuses members needing a newer version (NotImplementedError): 6.3
_MAX_EXTRACT_VERSION = 63
#: encrypted (bit 0), compressed patched data (bit 5), strong encryption (bit 6): zipfile's own paths
_SPECIAL_FLAGS = 0x1 | 0x20 | 0x40
_NO_32BIT = 0xFFFF_FFFF
#: Info-ZIP Unicode Path extra field: zipfile 3.12+ renames the entry to the name it holds (3.10/3.11 do not)
_UNICODE_PATH = 0x7075
_CHUNK = 64 * 1024

#: Per thread (a decompressor may not be used by two threads at once).
_LOCAL_STATE = threading.local()

_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)
#: A numeric tar field as `tarfile.nti` reads it without base-256: spaces, octal digits, spaces, then a NUL
#: and anything. Other spellings `int(..., 8)` may take ("0o7", "+7", "_") go to the reference.
_OCTAL = re.compile(rb" *([0-7]*) *(?:\0.*)?", re.DOTALL)
#: (start, end) of the numeric fields `tarfile.frombuf` parses: mode, uid, gid, size, mtime, chksum, devmajor,
#: devminor. One it cannot parse ends its reading of the archive; here it sends the file to the reference.
_NUMERIC = ((100, 108), (108, 116), (116, 124), (124, 136), (136, 148), (148, 156), (329, 337), (337, 345))
_OCTALS: dict[bytes, int | None] = {}
_REGULAR = (b"0", b"\0")
_DIRECTORY = b"5"


def info_members(data: bytes, stem: str, wanted: tuple[bytes, ...], limit: int) -> list[tuple[bytes, bytes]] | None:
    """`(name, bytes)` of each `wanted` member of `info-{stem}.tar.zst`, in archive order, when `data` is a
    plain `.conda` whose info tar holds at most `limit` bytes; None when the reference reader must decide."""
    member = _stored_member(data, f"info-{stem}.tar.zst")
    if member is None:
        return None
    chunks: list[bytes] = []
    size = 0
    try:
        # As the reference decompresses it (one frame), in chunks: a read allocates its whole size up front.
        reader = _decompressor().stream_reader(member)
        while size <= limit and (chunk := reader.read(_CHUNK)):
            chunks.append(chunk)
            size += len(chunk)
    except zstandard.ZstdError:
        return None
    if not size or size > limit:
        return None
    return _tar_members(b"".join(chunks), wanted)


def _decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor: making one costs about as much as reading a small package's info."""
    local = _LOCAL_STATE.__dict__
    if "dctx" not in local:
        local["dctx"] = zstandard.ZstdDecompressor()
    return local["dctx"]  # type: ignore[no-any-return]


def _stored_member(data: bytes, name: str) -> memoryview | None:
    """The bytes of member `name` as `zipfile` would give them, if the zip and the member are plain."""
    if not name.isascii() or "\\" in name or len(data) < _EOCD.size + 20:
        return None
    end = data[-_EOCD.size :]
    if end[:4] != b"PK\x05\x06" or end[-2:] != b"\0\0" or data[-_EOCD.size - 20 : -_EOCD.size - 16] == _ZIP64_LOCATOR:
        return None
    _, _, _, _, _, cd_size, cd_offset, _ = _EOCD.unpack(end)
    if cd_offset + cd_size != len(data) - _EOCD.size:  # zipfile's "concat": data before or after the zip
        return None
    target, found, offsets = name.encode(), None, []
    pos = cd_offset
    while pos < cd_offset + cd_size:
        if pos + _CENTRAL.size > cd_offset + cd_size:
            return None
        entry = _CENTRAL.unpack_from(data, pos)
        if entry[0] != b"PK\x01\x02" or entry[3] > _MAX_EXTRACT_VERSION:
            return None
        name_len, extra_len, comment_len, offset = entry[12], entry[13], entry[14], entry[18]
        raw = data[pos + _CENTRAL.size : pos + _CENTRAL.size + name_len]
        extra = data[pos + _CENTRAL.size + name_len : pos + _CENTRAL.size + name_len + extra_len]
        sizes = _sizes(extra, entry[11], entry[10], offset)
        if b"\0" in raw or b"\\" in raw or sizes is None:
            return None
        offsets.append(sizes[2])
        if raw == target:
            found = (entry, sizes)  # zipfile's getinfo: the last entry of that name
        pos += _CENTRAL.size + name_len + extra_len + comment_len
    if found is None or pos != cd_offset + cd_size:
        return None
    (_, _, _, _, _, flags, method, _, _, crc, *_), (file_size, size, offset) = found
    if flags & _SPECIAL_FLAGS or method != 0 or size != file_size:
        return None
    if offset + _LOCAL.size > len(data):
        return None
    local = _LOCAL.unpack_from(data, offset)
    start = offset + _LOCAL.size + local[10] + local[11]
    if local[0] != b"PK\x03\x04" or data[offset + _LOCAL.size : offset + _LOCAL.size + local[10]] != target:
        return None
    # zipfile 3.11.8+/3.12.2+ refuses a member whose data runs into another local header or the central directory.
    if start + size > cd_offset or sum(offset <= other < start + size for other in offsets) != 1:
        return None
    member = memoryview(data)[start : start + size]
    if len(member) != size or zlib.crc32(member) != crc:
        return None
    return member


def _sizes(extra: bytes, file_size: int, size: int, offset: int) -> tuple[int, int, int] | None:
    """`(file_size, compress_size, header_offset)` after the zip64 extra fields, as `ZipInfo._decodeExtra`
    applies them (builders such as rattler-build put every size there); None where it would raise, or where
    the zipfile of some Python versions would rename the entry (`_UNICODE_PATH`)."""
    while len(extra) >= 4:
        kind, length = struct.unpack_from("<HH", extra)
        if length + 4 > len(extra) or kind == _UNICODE_PATH:
            return None
        if kind == 1:
            values = iter(struct.unpack_from(f"<{length // 8}Q", extra, 4))
            try:
                file_size = next(values) if file_size == _NO_32BIT else file_size
                size = next(values) if size == _NO_32BIT else size
                offset = next(values) if offset == _NO_32BIT else offset
            except StopIteration:
                return None
        extra = extra[length + 4 :]
    return file_size, size, offset


def _octal(field: bytes) -> int | None:
    """A numeric tar field's value, or None if `tarfile` would not read it as this module does. Remembered:
    most fields (mode, owner, times) are the same bytes in every header of every package."""
    value = _OCTALS.get(field, -1)
    if value == -1:
        match = _OCTAL.fullmatch(field)
        value = int(match[1] or b"0", 8) if match is not None else None
        if len(_OCTALS) > 4096:
            _OCTALS.clear()
        _OCTALS[field] = value
    return value


def _tar_members(tar: bytes, wanted: tuple[bytes, ...]) -> list[tuple[bytes, bytes]] | None:
    """The `wanted` regular-file members of a plain tar, in order, as `tarfile` in stream mode reads them."""
    found: list[tuple[bytes, bytes]] = []
    pos = 0
    while pos < len(tar):
        header = tar[pos : pos + _BLOCK]
        if header == _ZERO_BLOCK:
            break
        if len(header) < _BLOCK:
            return None
        numbers = [_octal(header[start:end]) for start, end in _NUMERIC]
        size, checksum = numbers[3], numbers[5]
        if size is None or checksum is None or None in numbers:
            return None
        if checksum != 256 + sum(header[:148]) + sum(header[156:]):
            return None
        kind, name = header[156:157], header[:100].split(b"\0", 1)[0]
        prefix = header[345:500].split(b"\0", 1)[0]
        if kind == _DIRECTORY:
            name, size = name.rstrip(b"/"), 0
        elif kind not in _REGULAR or name.endswith(b"/"):
            return None
        if prefix:
            name = prefix + b"/" + name
        name = name.removeprefix(b"./")
        data_end = pos + _BLOCK + size
        if name in wanted:
            if kind == _DIRECTORY or any(seen == name for seen, _ in found) or data_end > len(tar):
                return None
            found.append((name, tar[pos + _BLOCK : data_end]))
        pos += _BLOCK + -(-size // _BLOCK) * _BLOCK
        if pos > len(tar):
            return None
    if pos == 0:
        return None
    return found
