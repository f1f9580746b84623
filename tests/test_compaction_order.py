"""A group committer that did not read `repodata.json` before its commit (it waited for the lease, or is in a
later round) must not compact from an older `repodata.json` read after its shard index: that could take it back
to an older commit, one that still names a file `remove` deleted since."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from support.judge import judge_channel
from support.packages import make_package

from condafarm import Channel, publish, remove
from condafarm.channel.commit.group import LEASE_KEY
from condafarm.conda.repodata import Repodata
from condafarm.storage import Storage, open_storage


def _compacted(storage: Storage) -> set[str]:
    blob = storage.get("noarch/repodata.json")
    assert blob is not None
    return set(Repodata.from_json(blob.data, "noarch").records())


def test_a_committer_that_waited_never_compacts_back_over_a_remove(channel: Channel, tmp_path: Path) -> None:
    gone, after = make_package(tmp_path / "a", "gone"), make_package(tmp_path / "b", "next")
    publish(channel, [gone])
    storage = open_storage(channel)
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
                remove(channel, [gone.name], yes=True)
        return original_get(key, *args, **kwargs)

    storage.get = get  # type: ignore[method-assign]
    publish(storage, [after])
    assert fired == ["released", "removed"], fired
    fresh = open_storage(channel)
    present = {i.name for i in fresh.list_objects("noarch/")}
    assert gone.name not in present
    assert _compacted(fresh) <= present, f"repodata.json names missing files: {_compacted(fresh) - present}"
    judge_channel(channel, [after])
