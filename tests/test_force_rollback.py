"""A failed `--force` publish updates the records of the files it replaced; in a small subdir `repodata.json`
(what conda and mamba read) must follow at once, or it keeps the old sha256 and size of a file whose bytes
changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.packages import make_package

from condafarm import init_channel, parse_channel, publish
from condafarm.channel.publish import prepare
from condafarm.conda.repodata import Repodata
from condafarm.errors import StorageError
from condafarm.storage import open_storage


def test_a_failed_force_publish_compacts_the_replaced_records_in_a_small_subdir(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    init_channel(parse_channel(str(root)))
    publish(parse_channel(str(root)), [make_package(tmp_path / "v1", "tool", payload="one")])
    replacement = make_package(tmp_path / "v2", "tool", payload="two, and longer")
    failing = make_package(tmp_path / "v2", "failing")
    storage = open_storage(parse_channel(str(root)))
    original = storage.upload

    def upload(key: str, *args: object, **kwargs: object) -> object:
        if key.endswith(failing.name):
            raise StorageError("simulated: the upload failed")
        return original(key, *args, **kwargs)  # type: ignore[arg-type]

    storage.upload = upload  # type: ignore[method-assign]
    with pytest.raises(StorageError):
        publish(storage, [replacement, failing], force=True)
    blob = storage.get("noarch/repodata.json")
    assert blob is not None
    record = Repodata.from_json(blob.data, "noarch").records()[replacement.name]
    assert record["sha256"] == prepare(replacement).hashes.sha256, "repodata.json keeps the replaced file's old hash"
