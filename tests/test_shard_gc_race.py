"""The shard index is the commit point, so a shard file it names must never be missing. `collect_shards` (index)
deletes an expired orphan after re-reading the index, but a writer that found the same content-addressed shard
already there (If-None-Match refused, suppressed) names it in its next index write without checking it survived: the
deletion lands in between."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.judge import judge_channel
from support.packages import make_package

from condafarm import Channel, publish, remove
from condafarm.channel.commit import derived
from condafarm.channel.commit.names import read_some
from condafarm.channel.commit.store import read_current, shards_key
from condafarm.channel.index import index_subdir
from condafarm.storage import open_storage


def test_a_shard_named_again_is_never_collected_under_the_writer(
    local_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = make_package(tmp_path / "1", "foo", build_number=1)
    v2 = make_package(tmp_path / "2", "foo", build_number=2)
    publish(local_channel, [v1])
    publish(local_channel, [v2])  # foo's first shard ({v1}) is an orphan from now on
    storage = open_storage(local_channel)
    index_puts = [0]
    fired = []
    original_put = storage.put

    def put(key: str, *args: Any, **kwargs: Any) -> Any:
        if key == shards_key("noarch"):
            index_puts[0] += 1
            if index_puts[0] == 2 and not fired:
                # remove's second commit forgets v2: foo's shard is {v1} again, which exists (refused, suppressed);
                # a scheduled index run collects it now, the orphan being past its grace period
                fired.append(True)
                with monkeypatch.context() as m:
                    m.setattr(derived, "SHARD_GRACE_SECONDS", 0)
                    index_subdir(open_storage(local_channel), "noarch")
        return original_put(key, *args, **kwargs)

    storage.put = put  # type: ignore[method-assign]
    remove(storage, [v2.name], yes=True)
    assert fired, "remove never wrote its second shard index"
    fresh = open_storage(local_channel)
    named = set(read_current(fresh, "noarch").names.values())
    present = {i.name.removesuffix(".msgpack.zst") for i in fresh.list_objects("noarch/shards/")}
    assert named <= present, "the shard index names a shard file that is gone"
    read_some(fresh, "noarch", {"foo"})  # every publish of foo reads it
    judge_channel(local_channel, [v1])
