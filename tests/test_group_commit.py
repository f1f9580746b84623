"""Group commit: publishers that arrive together share one `repodata.json` rewrite, and a group committer killed at
any step of its compaction loses nothing (the next publisher takes its lease over and finishes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.channels import process_env
from support.dying import DIED
from support.judge import judge_channel
from support.packages import make_package
from support.proxy import Exchange, fault_proxy
from support.s3 import S3Endpoint

from condafarm import Channel, S3Options, check_channel, parse_channel, publish, yank
from condafarm.channel.commit.group import LEASE_KEY
from condafarm.channel.commit.store import read_current
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


@pytest.mark.parametrize(("when", "suffix", "nth", "committed", "done"), STEPS, ids=[s[4] for s in STEPS])
def test_a_group_committer_killed_at_any_step_loses_nothing(
    channel: Channel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
    suffix: str,
    nth: int,
    committed: bool,
    done: str,
) -> None:
    env = process_env(channel, CONDAFARM_COMMIT_LEASE_SECONDS="1")
    monkeypatch.setenv("CONDAFARM_COMMIT_LEASE_SECONDS", "1")
    storage = open_storage(channel)
    first = make_package(tmp_path / "0", "first")
    publish(storage, [first])
    dying = make_package(tmp_path / "1", "dying")
    args = [sys.executable, str(SUPPORT / "dying.py"), when, suffix, str(nth), "--"]
    args += ["publish", str(dying), "--to", channel.url]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == DIED, result.stderr
    # It died before returning; once committed, shard clients (and condafarm) see its package at once.
    assert (dying.name in read_current(storage, "noarch").repodata.records()) == committed
    _assert_names_only_files_present(storage)  # valid meanwhile for every client
    judge_channel(channel, [first, dying] if committed else [first], exact_in=["shards"])

    # The next publisher waits for the dead committer's lease to go stale, takes it over and finishes its work:
    # it commits every ready file, the dead one's too, and compacts.
    after = make_package(tmp_path / "2", "next")
    publish(storage, [after])
    names = {"first-1.0-h0_0.conda", dying.name, "next-1.0-h0_0.conda"}
    assert _compacted(storage) == names
    current = read_current(storage, "noarch")
    assert set(current.repodata.records()) == names and not current.pending
    assert storage.head(f"noarch/{LEASE_KEY}") is None
    report = check_channel(storage)
    assert report.ok and not report.notes, (report.problems, report.notes)
    judge_channel(channel, [first, dying, after])


def test_publishers_arriving_together_share_one_rewrite(
    s3: S3Endpoint, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight publishers commit while another compactor holds the lease; once all eight files are marked ready it
    lets go, and the publisher that takes the lease next folds all eight into one rewrite; the others find their
    records there and return without writing."""
    monkeypatch.setenv("CONDAFARM_COMMIT_LEASE_SECONDS", "600")  # no waiter ever takes the lease over by time
    files = [make_package(tmp_path / f"p{i}", f"tool{i}") for i in range(8)]
    ready_marks: list[str] = []
    all_ready = threading.Event()

    def count_ready_marks(exchange: Exchange) -> None:
        request = exchange.request
        if request.op == "PutObject" and request.key.endswith(".ready") and exchange.status == 200:
            ready_marks.append(request.key)
            if len(ready_marks) == len(files):
                all_ready.set()

    with fault_proxy(s3.port, on_exchange=count_ready_marks) as proxy:
        options = S3Options(endpoint_url=proxy.url, region="us-east-1", addressing_style="path")
        channel = parse_channel(f"s3://{bucket}/Conda/Default", options)
        first = make_package(tmp_path / "first", "first")
        publish(channel, [first])
        storage = open_storage(channel)
        lease = json.dumps({"owner": "a compactor that is busy", "since": time.time()}).encode()
        storage.put(f"noarch/{LEASE_KEY}", lease)
        start = len(proxy.log)
        with ThreadPoolExecutor(max_workers=8) as pool:
            publishing = [pool.submit(publish, channel, [f]) for f in files]
            assert all_ready.wait(timeout=300), f"only {len(ready_marks)} of 8 files were marked ready"
            assert not any(p.done() for p in publishing), "a publisher returned while the lease was held"
            storage.delete(f"noarch/{LEASE_KEY}")  # the busy compactor is done
            for done in publishing:
                done.result()
        rewrites = [
            e
            for e in proxy.log[start:]
            if e.request.op == "PutObject" and e.request.key.endswith("noarch/repodata.json") and e.status == 200
        ]
    direct = parse_channel(channel.url, S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path"))
    assert _compacted(open_storage(direct)) == {"first-1.0-h0_0.conda"} | {f.name for f in files}
    assert len(rewrites) == 1, [e.request.key for e in rewrites]
    assert check_channel(direct).ok
    judge_channel(direct, [first, *files])


def test_a_file_yanked_after_a_dead_committers_commit_stays_yanked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committer that dies after its commit leaves the ready marks behind; the next committer finishes its work
    but must not put back a record that was yanked meanwhile."""
    channel = parse_channel(str(tmp_path / "channel"))
    monkeypatch.setenv("CONDAFARM_COMMIT_LEASE_SECONDS", "1")
    storage = open_storage(channel)
    first = make_package(tmp_path / "0", "first")
    publish(storage, [first])
    dying = make_package(tmp_path / "1", "dying")
    env = {**os.environ, "CONDAFARM_COMMIT_LEASE_SECONDS": "1"}
    args = [sys.executable, str(SUPPORT / "dying.py"), "after", "noarch/repodata.json", "1", "--"]
    result = subprocess.run(
        [*args, "publish", str(dying), "--to", channel.url], env=env, capture_output=True, check=False
    )
    assert result.returncode == DIED
    yank(storage, [dying.name])
    after = make_package(tmp_path / "2", "next")
    publish(storage, [after])
    current = read_current(storage, "noarch")
    assert dying.name not in current.repodata.records() and dying.name in current.repodata.removed
    assert dying.name not in _compacted(storage)
    judge_channel(channel, [first, after])
