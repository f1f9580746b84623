"""yank, remove and copy: change what a channel offers without ever leaving repodata naming a missing file."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run_cli
from support.packages import make_package, read_shard
from support.s3 import S3Endpoint

from condafarm import Channel, S3Options, check_channel, index_channel, parse_channel
from condafarm.channel.commit.store import load_repodata
from condafarm.channel.curate import copy_packages, remove, yank
from condafarm.channel.publish import publish
from condafarm.conda.shards import SHARDS_INDEX, Shards, read_shard_names
from condafarm.errors import AlreadyExists, NotFound, UsageError
from condafarm.storage import open_storage


def _published(channel: Channel, tmp_path: Path) -> None:
    publish(
        channel,
        [
            make_package(tmp_path / "out", "tool", "1.0", 0),
            make_package(tmp_path / "out", "tool", "1.1", 0),
            make_package(tmp_path / "out", "lib", "2.0", 0, subdir="linux-64"),
        ],
    )


def test_yank_hides_the_record_keeps_the_file_and_survives_reindexing(channel: Channel, tmp_path: Path) -> None:
    _published(channel, tmp_path)
    result = yank(channel, ["tool-1.1-h0_0.conda"])
    assert result.changed == ["noarch/tool-1.1-h0_0.conda"]
    storage = open_storage(channel)
    repodata = load_repodata(storage, "noarch")[0]
    assert "tool-1.1-h0_0.conda" not in repodata.records() and repodata.removed == ["tool-1.1-h0_0.conda"]
    assert storage.head("noarch/tool-1.1-h0_0.conda") is not None
    index = storage.get(f"noarch/{SHARDS_INDEX}")
    assert index is not None
    shard = storage.get(Shards.key("noarch", read_shard_names(index.data)["tool"]))
    assert shard is not None
    content = read_shard(shard.data)
    assert content["removed"] == ["tool-1.1-h0_0.conda"] and list(content["packages.conda"]) == ["tool-1.0-h0_0.conda"]
    assert index_channel(channel).total("added") == 0
    assert check_channel(channel).ok


def test_remove_needs_yes_then_deletes_record_and_file(channel: Channel, tmp_path: Path) -> None:
    _published(channel, tmp_path)
    with pytest.raises(UsageError, match="--yes"):
        remove(channel, ["linux-64/lib-2.0-h0_0.conda"])
    remove(channel, ["linux-64/lib-2.0-h0_0.conda"], yes=True)
    storage = open_storage(channel)
    assert load_repodata(storage, "linux-64")[0].records() == {}
    assert storage.head("linux-64/lib-2.0-h0_0.conda") is None
    assert check_channel(channel).ok


def test_unknown_names_are_refused_before_any_change(channel: Channel, tmp_path: Path) -> None:
    _published(channel, tmp_path)
    before = open_storage(channel).get("noarch/repodata.json")
    with pytest.raises(NotFound, match="condafarm ls"):
        yank(channel, ["tool-1.0-h0_0.conda", "ghost-1.0-h0_0.conda"])
    assert open_storage(channel).get("noarch/repodata.json") == before


def _s3(s3: S3Endpoint, bucket: str) -> Channel:
    s3.client().create_bucket(Bucket=bucket)
    return parse_channel(
        f"s3://{bucket}/Conda/Default", S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    )


def test_copy_between_buckets_stays_inside_s3(s3: S3Endpoint, tmp_path: Path) -> None:
    staging, production = _s3(s3, "copy-staging"), _s3(s3, "copy-production")
    _published(staging, tmp_path)
    dst = open_storage(production)
    result = copy_packages(open_storage(staging), dst, ["tool 1.1.*", "linux-64/lib-2.0-h0_0.conda"])
    assert result.changed == ["linux-64/lib-2.0-h0_0.conda", "noarch/tool-1.1-h0_0.conda"]
    counts = dst.request_counts()
    assert counts.get("CopyObject") == 2 and counts["bytes_read"] < 20_000  # repodata only, no package bytes
    assert set(load_repodata(dst, "noarch")[0].records()) == {"tool-1.1-h0_0.conda"}
    assert check_channel(production, verify_hashes=True).ok
    with pytest.raises(AlreadyExists):
        copy_packages(staging, production, ["tool-1.1-h0_0.conda"])


def test_copy_from_a_folder_to_s3_publishes_the_files(s3: S3Endpoint, tmp_path: Path) -> None:
    dev = parse_channel(str(tmp_path / "dev"))
    _published(dev, tmp_path)
    production = _s3(s3, "copy-from-folder")
    copy_packages(dev, production, ["tool"])
    assert set(load_repodata(open_storage(production), "noarch")[0].records()) == {
        "tool-1.0-h0_0.conda",
        "tool-1.1-h0_0.conda",
    }
    assert check_channel(production, verify_hashes=True).ok


def test_cli_yank_remove_copy(tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    _published(parse_channel(str(channel)), tmp_path)
    assert run_cli("yank", str(channel), "tool-1.0-h0_0.conda").returncode == 0
    refused = run_cli("remove", str(channel), "tool-1.1-h0_0.conda")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert run_cli("remove", str(channel), "tool-1.1-h0_0.conda", "--yes").returncode == 0
    copied = run_cli("copy", str(channel), str(tmp_path / "other"), "lib")
    assert copied.returncode == 0, copied.stderr
    assert "copied linux-64/lib-2.0-h0_0.conda" in copied.stdout
