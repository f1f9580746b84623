"""A group committer that did not read `repodata.json` before its commit (it waited for the lease, or is in a
later round) must not compact from an older `repodata.json` read after its shard index: that could take it back
to an older commit, one that still names a file `remove` deleted since."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.packages import make_package

from condafarm import Channel, init_channel, parse_channel, publish, remove
from condafarm.channel.group import LEASE_KEY
from condafarm.conda.repodata import Repodata
from condafarm.storage import Storage, open_storage


@pytest.fixture(params=["folder", "s3"])
def anywhere(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Channel]:
    if request.param == "folder":
        root = tmp_path / "channel"
        init_channel(parse_channel(str(root)))
        return lambda: parse_channel(str(root))
    channel: Channel = request.getfixturevalue("s3_channel")
    init_channel(channel)
    return lambda: channel


def _compacted(storage: Storage) -> set[str]:
    blob = storage.get("noarch/repodata.json")
    assert blob is not None
    return set(Repodata.from_json(blob.data, "noarch").records())


def test_a_committer_that_waited_never_compacts_back_over_a_remove(
    anywhere: Callable[[], Channel], tmp_path: Path
) -> None:
    gone = make_package(tmp_path / "a", "gone")
    publish(anywhere(), [gone])
    storage = open_storage(anywhere())
    lease_key = f"noarch/{LEASE_KEY}"
    # another publisher holds the lease when ours arrives, so ours waits (and forgets what it read)
    storage.put(lease_key, json.dumps({"owner": "other", "since": time.time()}).encode())
    original_get = storage.get
    json_reads = [0]
    fired: list[str] = []

    def get(key: str, *args: Any, **kwargs: Any) -> Any:
        if key == lease_key and not fired:
            # the other publisher's commit is over: it lets go of the lease while ours waits
            fired.append("released")
            storage.delete(lease_key)
            return None
        if key == "noarch/repodata.json":
            json_reads[0] += 1
            if json_reads[0] == 2 and len(fired) == 1:
                # ours has committed to the shard index and now compacts; a `remove` ran in between
                fired.append("removed")
                remove(anywhere(), [gone.name], yes=True)
        return original_get(key, *args, **kwargs)

    storage.get = get  # type: ignore[method-assign]
    publish(storage, [make_package(tmp_path / "b", "next")])
    assert fired == ["released", "removed"], fired
    fresh = open_storage(anywhere())
    present = {i.name for i in fresh.list_objects("noarch/")}
    assert gone.name not in present
    assert _compacted(fresh) <= present, f"repodata.json names missing files: {_compacted(fresh) - present}"
