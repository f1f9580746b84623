"""What index and publish write to S3, judged by others: py-rattler's `index_s3` on the same packages, hashlib
on the package bytes, and json, zstandard and msgpack reading the objects directly (never condafarm's reader)."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zstandard
from support.installs import rattler
from support.packages import make_package, read_info_file
from support.s3 import S3Endpoint, new_bucket, upload_dir

from condafarm import S3Options, index_channel, parse_channel, publish
from condafarm.conda.shards import COMMIT_POINT

PREFIX = "Conda/Default"
SUBDIRS = ("noarch", "linux-64")
#: The only field whose value may differ between two indexers: when each saw the package.
WHEN_INDEXED = "indexed_timestamp"


def _packages(root: Path) -> list[Path]:
    """Both archive formats, both subdirs, depends, constrains and run_exports (in .conda files, where
    py-rattler-build's assembler lets a test add them)."""
    paths = [
        make_package(
            root,
            "lib",
            "2.0",
            3,
            subdir="linux-64",
            depends=["python >=3"],
            constrains=["other <2"],
            run_exports={"weak": ["lib >=2"], "strong": ["libcore"]},
        ),
        make_package(root, "lib", "2.0", 4, subdir="linux-64", fmt=".tar.bz2", depends=["python >=3"]),
        make_package(root, "tool", "1.0", 0, fmt=".tar.bz2", depends=["lib >=2"]),
        make_package(root, "tool", "1.1", 0, run_exports={"weak": ["tool >=1.1"]}),
        make_package(root, "plain", "1.0", 0),
    ]
    shutil.rmtree(root / ".staging")
    return paths


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("packages")
    _packages(root)
    return root


@pytest.fixture(scope="module")
def theirs(s3: S3Endpoint, packages: Path) -> str:
    """A bucket holding the packages, indexed by py-rattler's `index_s3` (with shards) in its own process."""
    bucket = new_bucket(s3.client(), "theirs")
    upload_dir(s3, bucket, PREFIX, packages)
    rattler("index-s3", f"s3://{bucket}/{PREFIX}", "--endpoint", s3.url, "--shards")
    return bucket


def _by_index(s3: S3Endpoint, bucket: str, packages: Path) -> None:
    upload_dir(s3, bucket, PREFIX, packages)
    index_channel(parse_channel(f"s3://{bucket}/{PREFIX}", S3Options(s3.url, "us-east-1", "path")))


def _by_publish(s3: S3Endpoint, bucket: str, packages: Path) -> None:
    channel = parse_channel(f"s3://{bucket}/{PREFIX}", S3Options(s3.url, "us-east-1", "path"))
    publish(channel, sorted(p for p in packages.rglob("*") if p.is_file()))


class Bucket:
    """Objects of one channel read with boto3 alone."""

    def __init__(self, s3: S3Endpoint, bucket: str) -> None:
        self.client, self.bucket = s3.client(), bucket

    def bytes(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}")["Body"].read())

    def repodata(self, subdir: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.bytes(f"{subdir}/repodata.json"))
        return data

    def shards(self, subdir: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The shard index's `info`, and every record found through the shards (filename -> record, with
        sha256 and md5 as the raw bytes CEP-16 stores); each shard file's name is checked to be the sha256 of
        its bytes, as CEP-16 content addressing says."""
        index = _unzstd_msgpack(self.bytes(f"{subdir}/repodata_shards.msgpack.zst"))
        records: dict[str, dict[str, Any]] = {}
        for name, digest in index["shards"].items():
            data = self.bytes(f"{subdir}/shards/{digest.hex()}.msgpack.zst")
            assert hashlib.sha256(data).digest() == digest, f"{subdir} shard of {name!r} is not named by its sha256"
            shard = _unzstd_msgpack(data)
            for table in ("packages", "packages.conda"):
                for filename, record in shard.get(table, {}).items():
                    assert record["name"] == name, f"{filename} is in the shard of {name!r}"
                    records[filename] = record
        return index["info"], records


def _unzstd_msgpack(data: bytes) -> Any:
    return msgpack.unpackb(zstandard.ZstdDecompressor().decompressobj().decompress(data), raw=False)


def _run_exports_in(path: Path) -> dict[str, Any]:
    """The package's own `info/run_exports.json`, read from the archive; {} when it has none."""
    if path.name.endswith(".tar.bz2"):
        with tarfile.open(path) as tar:
            member = tar.extractfile("info/run_exports.json") if "info/run_exports.json" in tar.getnames() else None
            return json.loads(member.read()) if member is not None else {}
    try:
        return dict(json.loads(read_info_file(path, "info/run_exports.json")))
    except KeyError:
        return {}


def _records(repodata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {**repodata["packages"], **repodata["packages.conda"]}


def _same_fields(ours: dict[str, Any], peer: dict[str, Any], what: str) -> None:
    """Every field either record has, equal in both (both must have it), except when each was indexed."""
    fields = (set(ours) | set(peer)) - {WHEN_INDEXED}
    assert {f: ours.get(f) for f in fields} == {f: peer.get(f) for f in fields}, what


@pytest.mark.slow
@pytest.mark.parametrize("write", [_by_index, _by_publish], ids=["index", "publish"])
def test_s3_repodata_zst_shards_and_run_exports_match_py_rattler_and_hashlib(
    write: Callable[[S3Endpoint, str, Path], None], s3: S3Endpoint, packages: Path, theirs: str
) -> None:
    ours_bucket = new_bucket(s3.client(), "ours")
    write(s3, ours_bucket, packages)
    ours, peer = Bucket(s3, ours_bucket), Bucket(s3, theirs)
    compared = 0
    for subdir in SUBDIRS:
        files = {p.name: p.read_bytes() for p in (packages / subdir).iterdir()}
        mine, their = ours.repodata(subdir), peer.repodata(subdir)
        assert mine["info"]["subdir"] == their["info"]["subdir"] == subdir
        assert mine["repodata_version"] == their["repodata_version"] == 1
        for table in ("packages", "packages.conda"):
            assert (
                set(mine[table])
                == set(their[table])
                == {n for n in files if n.endswith(".conda" if table == "packages.conda" else ".tar.bz2")}
            )
        for filename, record in _records(mine).items():
            _same_fields(record, _records(their)[filename], f"{subdir}/{filename}")
            data = files[filename]
            assert record["sha256"] == hashlib.sha256(data).hexdigest()
            assert record["md5"] == hashlib.md5(data).hexdigest()
            assert record["size"] == len(data)
            assert WHEN_INDEXED in record
            compared += 1

        json_bytes = ours.bytes(f"{subdir}/repodata.json")
        zst = ours.bytes(f"{subdir}/repodata.json.zst")
        assert zstandard.get_frame_parameters(zst).content_size == len(json_bytes)
        assert zstandard.ZstdDecompressor().decompress(zst) == json_bytes

        info, sharded = ours.shards(subdir)
        peer_info, peer_sharded = peer.shards(subdir)
        assert set(info) - {COMMIT_POINT} == set(peer_info)  # condafarm marks the index it commits to
        assert {k: v for k, v in info.items() if k not in ("created_at", COMMIT_POINT)} == {
            k: v for k, v in peer_info.items() if k != "created_at"
        }
        assert set(sharded) == set(peer_sharded) == set(_records(mine))
        for filename, record in sharded.items():
            _same_fields(record, peer_sharded[filename], f"{subdir} shard record {filename}")
            data = files[filename]
            assert (record["sha256"], record["md5"]) == (hashlib.sha256(data).digest(), hashlib.md5(data).digest())
            as_json = {**record, "sha256": record["sha256"].hex(), "md5": record["md5"].hex()}
            _same_fields(as_json, _records(mine)[filename], f"{subdir} shard record {filename} vs repodata.json")

        run_exports = json.loads(ours.bytes(f"{subdir}/run_exports.json"))
        assert run_exports["info"]["subdir"] == subdir
        for table in ("packages", "packages.conda"):
            assert set(run_exports[table]) == set(their[table])
            for filename, entry in run_exports[table].items():
                in_package = _run_exports_in(packages / subdir / filename)
                assert entry == {"run_exports": in_package}, filename
                assert their[table][filename].get("run_exports", {}) == in_package, filename
    assert compared == 5
    assert _run_exports_in(packages / "noarch" / "tool-1.1-h0_0.conda") == {"weak": ["tool >=1.1"]}
