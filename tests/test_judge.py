"""The judge the race and crash tests rely on (`support/judge.py`) must itself catch what they guard against: a
record without its file, a file that is not what its record says, a record nobody expected, lost shards."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.judge import judge_channel
from support.packages import make_package

from condafarm import Channel, publish
from condafarm.storage import open_storage


def test_the_judge_accepts_a_published_channel_and_catches_each_way_it_can_be_wrong(
    channel: Channel, tmp_path: Path
) -> None:
    tool, lib = make_package(tmp_path, "tool"), make_package(tmp_path, "lib", subdir="linux-64")
    publish(channel, [tool, lib])
    judge_channel(channel, [tool, lib])
    judge_channel(channel, [f"noarch/{tool.name}", f"linux-64/{lib.name}"])
    with pytest.raises(AssertionError, match="sees in linux-64"):
        judge_channel(channel, [tool])  # a record nobody expected
    with pytest.raises(AssertionError, match="sees in noarch"):
        judge_channel(channel, [tool, lib, "noarch/gone-1.0-h0_0.conda"])  # an expected record is missing
    with pytest.raises(AssertionError, match="another build"):
        judge_channel(channel, [make_package(tmp_path / "other", "tool", payload="other"), lib])
    storage = open_storage(channel)
    storage.put(f"noarch/{tool.name}", b"not a package")
    with pytest.raises(AssertionError, match="does not match its sha256"):
        judge_channel(channel, [tool, lib])
    storage.delete(f"noarch/{tool.name}")
    with pytest.raises(AssertionError, match="cannot download"):
        judge_channel(channel, [tool, lib])
    storage.put(f"noarch/{tool.name}", tool.read_bytes())
    judge_channel(channel, [tool, lib])
    for info in storage.list_objects("linux-64/shards/"):
        storage.delete(info.key)
    with pytest.raises(AssertionError, match="could not read"):
        judge_channel(channel, [tool, lib])  # the shard index names shards that are gone


def test_the_judge_reads_repodata_json_and_the_shards_each_on_their_own(channel: Channel, tmp_path: Path) -> None:
    """A `repodata.json` left behind by the shards (a compaction that never happened) is caught, and so is the
    reverse: each view is read without falling back to the other."""
    tool, lib = make_package(tmp_path, "tool"), make_package(tmp_path, "lib")
    publish(channel, [tool])
    storage = open_storage(channel)
    older = {key: storage.get(key) for key in ("noarch/repodata.json", "noarch/repodata.json.zst")}
    publish(channel, [lib])
    newer = {key: storage.get(key) for key in older}
    for key, blob in older.items():
        assert blob is not None
        storage.put(key, blob.data)
    with pytest.raises(AssertionError, match=r"through repodata\.json sees in noarch: \['tool"):
        judge_channel(channel, [tool, lib])
    judge_channel(channel, [tool, lib], exact_in=["shards"])
    for key, blob in newer.items():
        assert blob is not None
        storage.put(key, blob.data)
    shards = "noarch/repodata_shards.msgpack.zst"
    storage.delete(shards)
    with pytest.raises(AssertionError, match="no shard index in noarch"):
        judge_channel(channel, [tool, lib])
