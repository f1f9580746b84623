from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from support.packages import add_info_file, make_package, read_info_file

from condafarm import PackageError, read_metadata
from condafarm.conda.package import check_matches, derive_subdir, hash_file, split_filename


def test_reads_index_json_from_conda_and_tar_bz2(tmp_path: Path) -> None:
    for fmt in (".conda", ".tar.bz2"):
        path = make_package(tmp_path, "blender-tools", "4.5.1", 2, "linux-64", depends=["python >=3.10"], fmt=fmt)
        with open(path, "rb") as f:
            meta = read_metadata(f, path.name)
        assert meta.index["name"] == "blender-tools"
        assert meta.index["depends"] == ["python >=3.10"]
        assert meta.run_exports is None
        assert check_matches(meta, path.name, "linux-64")["subdir"] == "linux-64"


def test_reads_run_exports(tmp_path: Path) -> None:
    path = make_package(tmp_path, "libfoo", run_exports={"weak": ["libfoo >=1.0,<2"]})
    with open(path, "rb") as f:
        assert read_metadata(f, path.name).run_exports == {"weak": ["libfoo >=1.0,<2"]}


def test_metadata_disagreeing_with_filename_is_rejected(tmp_path: Path) -> None:
    path = make_package(tmp_path, "tool", "1.0")
    wrong = path.with_name("tool-2.0-h0_0.conda")
    path.rename(wrong)
    with open(wrong, "rb") as f:
        meta = read_metadata(f, wrong.name)
    with pytest.raises(PackageError, match=r"version=.1\.0. but the filename says .2\.0."):
        check_matches(meta, wrong.name, "noarch")


def test_package_in_the_wrong_subdir_is_rejected(tmp_path: Path) -> None:
    path = make_package(tmp_path, "tool", subdir="linux-64")
    with open(path, "rb") as f:
        meta = read_metadata(f, path.name)
    with pytest.raises(PackageError, match="built for subdir 'linux-64' but sits in 'win-64'"):
        check_matches(meta, path.name, "win-64")


@pytest.mark.parametrize(
    ("platform", "arch", "subdir"),
    [
        ("linux", "x86_64", "linux-64"),
        ("linux", "x86", "linux-32"),
        ("linux", "aarch64", "linux-aarch64"),
        ("linux", "ppc64le", "linux-ppc64le"),
        ("linux", "s390x", "linux-s390x"),
        ("osx", "x86_64", "osx-64"),
        ("osx", "arm64", "osx-arm64"),
        ("darwin", "arm64", "osx-arm64"),
        ("win", "x86_64", "win-64"),
        ("win32", "x86", "win-32"),
        ("win", "arm64", "win-arm64"),
        ("linux", None, "noarch"),
        (None, None, "noarch"),
    ],
)
def test_subdir_of_old_packages_comes_from_platform_and_arch_as_conda_derives_it(
    platform: str | None, arch: str | None, subdir: str
) -> None:
    assert derive_subdir({"platform": platform, "arch": arch}) == subdir


def test_old_package_without_subdir_must_sit_in_the_subdir_its_platform_and_arch_say(tmp_path: Path) -> None:
    path = make_package(tmp_path, "oldtool", subdir="linux-64")
    index = json.loads(read_info_file(path, "info/index.json"))
    del index["subdir"]
    add_info_file(path, "info/index.json", json.dumps(index).encode())
    with open(path, "rb") as f:
        meta = read_metadata(f, path.name)
    assert check_matches(meta, path.name, "linux-64")["subdir"] == "linux-64"
    with pytest.raises(PackageError, match="built for subdir 'linux-64' but sits in 'win-64'; move it to linux-64/"):
        check_matches(meta, path.name, "win-64")


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_truncated_files_fail_with_the_filename(tmp_path: Path, cut: float) -> None:
    for fmt in (".conda", ".tar.bz2"):
        path = make_package(tmp_path, "tool", fmt=fmt, payload="x" * 5000)
        data = path.read_bytes()
        with pytest.raises(PackageError, match=path.name):
            read_metadata(io.BytesIO(data[: int(len(data) * cut)]), path.name)


def test_garbage_is_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="corrupt"):
        read_metadata(io.BytesIO(b"PK\x03\x04 not really a zip" * 10), "x-1-0.conda")
    with pytest.raises(PackageError, match="corrupt"):
        read_metadata(io.BytesIO(b"BZh9 nope" * 10), "x-1-0.tar.bz2")


def test_zip_without_info_member_is_rejected() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", "{}")
    with pytest.raises(PackageError, match=r"no info-x-1-0\.tar\.zst"):
        read_metadata(io.BytesIO(buf.getvalue()), "x-1-0.conda")


@pytest.mark.parametrize(
    "name",
    ["tool.conda", "tool-1.0.conda", "tool-1.0-0.zip", "-1-0.conda", "\u212aool-1-0.conda", "tool\u017f-1-0.conda"],
)
def test_filenames_that_are_not_packages(name: str) -> None:
    with pytest.raises(PackageError):
        split_filename(name)


def test_hash_file_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    data = b"abc" * 100000
    h = hash_file(io.BytesIO(data))
    assert (h.md5, h.sha256, h.size) == (hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(), len(data))


class _SparseWriter(io.RawIOBase):
    """A file that turns long runs of zeros into holes, so a >4 GiB zip costs little disk."""

    def __init__(self, f: io.BufferedRandom) -> None:
        self.f = f

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def]
        b = bytes(b)
        if len(b) >= 1 << 20 and not b.strip(b"\0"):
            self.f.seek(len(b), io.SEEK_CUR)
        else:
            self.f.write(b)
        return len(b)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def flush(self) -> None:
        self.f.flush()


@pytest.mark.slow
def test_zip64_package_over_4_gib(tmp_path: Path) -> None:
    """A .conda whose payload member is 4.1 GiB: offsets and sizes need zip64 records; index and publish work."""
    small = make_package(tmp_path, "bigapp", "1.0")
    with zipfile.ZipFile(small) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    big = tmp_path / "big" / small.name
    big.parent.mkdir()
    with open(big, "w+b") as raw:
        with zipfile.ZipFile(_SparseWriter(raw), "w", compression=zipfile.ZIP_STORED) as zf:  # type: ignore[arg-type]
            zf.writestr("metadata.json", members["metadata.json"])
            with zf.open("pkg-bigapp-1.0-h0_0.tar.zst", "w", force_zip64=True) as member:
                chunk = bytes(64 << 20)
                for _ in range(66):  # 66 x 64 MiB = 4.125 GiB
                    member.write(chunk)
            zf.writestr("info-bigapp-1.0-h0_0.tar.zst", members["info-bigapp-1.0-h0_0.tar.zst"])
        raw.truncate()
    assert big.stat().st_size > 4 * 1024**3
    from condafarm import index_channel, list_packages, parse_channel

    with open(big, "rb") as f:
        meta = read_metadata(f, big.name)
    assert meta.index["name"] == "bigapp"
    channel = tmp_path / "ch" / "noarch"
    channel.mkdir(parents=True)
    big.rename(channel / big.name)
    index_channel(parse_channel(str(tmp_path / "ch")))
    (listed,) = list_packages(parse_channel(str(tmp_path / "ch")))
    assert listed.record["size"] > 4 * 1024**3

    # publish copies it (verified by reading it back) into another channel and indexes it without listing
    from condafarm.channel.publish import publish

    target = tmp_path / "published"
    report = publish(parse_channel(str(target)), [channel / big.name])
    try:
        (published,) = list_packages(parse_channel(str(target)))
        assert published.record["sha256"] == listed.record["sha256"] == report.packages[0].sha256
        assert (target / "noarch" / big.name).stat().st_size == listed.record["size"]
    finally:
        shutil.rmtree(tmp_path)  # 4 GiB of real blocks once copied
