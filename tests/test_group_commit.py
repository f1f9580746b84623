"""Group commit: publishers that arrive together share one `repodata.json` rewrite, and a group committer killed at
any step of its compaction loses nothing (the next publisher takes its lease over and finishes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.dying import DIED
from support.packages import make_package
from support.proxy import fault_proxy
from support.s3 import S3Endpoint

from condafarm import Channel, S3Options, check_channel, parse_channel, publish, yank
from condafarm.channel.group import LEASE_KEY
from condafarm.channel.store import read_current
from condafarm.conda.repodata import Repodata
from condafarm.storage import Storage, open_storage

SUPPORT = Path(__file__).parent / "support"

#: Where the group committer dies: (before or after, its Nth write of a key ending so, whether its package is
#: committed by then, what it has done).
STEPS = [
    ("after", ".ready", 1, False, "marked its file ready, took no lease"),
    ("after", LEASE_KEY, 1, False, "took the lease, committed nothing"),
    ("after", "noarch/repodata_shards.msgpack.zst", 1, True, "committed to the shards, compacted nothing"),
    ("before", "noarch/repodata.json", 1, True, "read repodata.json, wrote nothing of it"),
    ("after", "noarch/repodata.json", 1, True, "wrote repodata.json, not its .zst"),
    ("after", "noarch/repodata.json.zst", 1, True, "wrote the .zst, not run_exports.json"),
    ("after", "noarch/run_exports.json", 1, True, "compacted, kept its intents and the lease"),
    ("after", ".ready", 2, True, "dropped its ready mark, kept the lease"),
]


def _compacted(storage: Storage) -> set[str]:
    blob = storage.get("noarch/repodata.json")
    assert blob is not None
    return set(Repodata.from_json(blob.data, "noarch").records())


def _assert_names_only_files_present(storage: Storage) -> None:
    """Neither `repodata.json` nor the shards name a file that is missing, and every shard named exists."""
    present = {i.name for i in storage.list_objects("noarch/")}
    current = read_current(storage, "noarch")
    assert _compacted(storage) <= present
    assert set(current.repodata.records()) <= present
    shards = {i.name.removesuffix(".msgpack.zst") for i in storage.list_objects("noarch/shards/")}
    assert set(current.names.values()) <= shards


@pytest.fixture(params=["folder", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Channel, dict[str, str]]:
    """A channel, and the environment a `condafarm` process needs to reach it."""
    env = {**os.environ, "CONDAFARM_COMMIT_LEASE_SECONDS": "1"}
    if request.param == "folder":
        return parse_channel(str(tmp_path / "my $channel ü")), env
    s3: S3Endpoint = request.getfixturevalue("s3")
    bucket: str = request.getfixturevalue("bucket")
    options = S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    return parse_channel(f"s3://{bucket}/Conda/Default", options), {**env, **s3.env()}


@pytest.mark.parametrize(("when", "suffix", "nth", "committed", "done"), STEPS, ids=[s[4] for s in STEPS])
def test_a_group_committer_killed_at_any_step_loses_nothing(
    where: tuple[Channel, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
    suffix: str,
    nth: int,
    committed: bool,
    done: str,
) -> None:
    channel, env = where
    monkeypatch.setenv("CONDAFARM_COMMIT_LEASE_SECONDS", "1")
    storage = open_storage(channel)
    publish(storage, [make_package(tmp_path / "0", "first")])
    dying = make_package(tmp_path / "1", "dying")
    args = [sys.executable, str(SUPPORT / "dying.py"), when, suffix, str(nth), "--"]
    args += ["publish", str(dying), "--to", channel.url]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == DIED, result.stderr
    # It died before returning; once committed, shard clients (and condafarm) see its package at once.
    assert (dying.name in read_current(storage, "noarch").repodata.records()) == committed
    _assert_names_only_files_present(storage)  # valid meanwhile for every client

    # The next publisher waits for the dead committer's lease to go stale, takes it over and finishes its work:
    # it commits every ready file, the dead one's too, and compacts.
    publish(storage, [make_package(tmp_path / "2", "next")])
    names = {"first-1.0-h0_0.conda", dying.name, "next-1.0-h0_0.conda"}
    assert _compacted(storage) == names
    current = read_current(storage, "noarch")
    assert set(current.repodata.records()) == names and not current.pending
    assert storage.head(f"noarch/{LEASE_KEY}") is None
    report = check_channel(storage)
    assert report.ok and not report.notes, (report.problems, report.notes)


def test_publishers_arriving_together_share_one_rewrite(
    s3: S3Endpoint, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight publishers commit while another compactor holds the lease; the one that takes it over next folds
    all eight into one rewrite, and the others find their records there and return without writing."""
    monkeypatch.setenv("CONDAFARM_COMMIT_LEASE_SECONDS", "5")
    with fault_proxy(s3.port) as proxy:
        options = S3Options(endpoint_url=proxy.url, region="us-east-1", addressing_style="path")
        channel = parse_channel(f"s3://{bucket}/Conda/Default", options)
        publish(channel, [make_package(tmp_path / "first", "first")])
        files = [make_package(tmp_path / f"p{i}", f"tool{i}") for i in range(8)]
        storage = open_storage(channel)
        lease = json.dumps({"owner": "a compactor that stopped", "since": time.time()}).encode()
        storage.put(f"noarch/{LEASE_KEY}", lease)
        start = len(proxy.log)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda f: publish(channel, [f]), files))
        rewrites = [
            e
            for e in proxy.log[start:]
            if e.request.op == "PutObject" and e.request.key.endswith("noarch/repodata.json") and e.status == 200
        ]
    direct = parse_channel(channel.url, S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path"))
    assert _compacted(open_storage(direct)) == {"first-1.0-h0_0.conda"} | {f.name for f in files}
    assert len(rewrites) <= 2, len(rewrites)  # one, or two if a publisher committed after the take-over began
    assert check_channel(direct).ok


def test_a_file_yanked_after_a_dead_committers_commit_stays_yanked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committer that dies after its commit leaves the ready marks behind; the next committer finishes its work
    but must not put back a record that was yanked meanwhile."""
    channel = parse_channel(str(tmp_path / "channel"))
    monkeypatch.setenv("CONDAFARM_COMMIT_LEASE_SECONDS", "1")
    storage = open_storage(channel)
    publish(storage, [make_package(tmp_path / "0", "first")])
    dying = make_package(tmp_path / "1", "dying")
    env = {**os.environ, "CONDAFARM_COMMIT_LEASE_SECONDS": "1"}
    args = [sys.executable, str(SUPPORT / "dying.py"), "after", "noarch/repodata.json", "1", "--"]
    result = subprocess.run(
        [*args, "publish", str(dying), "--to", channel.url], env=env, capture_output=True, check=False
    )
    assert result.returncode == DIED
    yank(storage, [dying.name])
    publish(storage, [make_package(tmp_path / "2", "next")])
    current = read_current(storage, "noarch")
    assert dying.name not in current.repodata.records() and dying.name in current.repodata.removed
    assert dying.name not in _compacted(storage)
