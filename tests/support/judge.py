"""py-rattler as the independent judge of a channel: race and crash tests check what a conda client sees, not
only what condafarm's own reader says."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Collection, Iterable
from pathlib import Path

from condafarm.storage.location import Channel
from support.installs import CLIENT

#: The subdirs the tests publish to: each is read, so a record in one a test did not expect is caught too.
SUBDIRS = ("noarch", "linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64")
#: The ways py-rattler reads a channel (`rattler_client.judge`).
VIEWS = ("repodata.json", "repodata.json.zst", "shards")


def _expected(files: Iterable[Path | str]) -> dict[str, dict[str, str | None]]:
    """`{subdir: {filename: sha256 or None}}` from package files (a `Path`: its folder names its subdir, its bytes
    give the sha256) and names (`"subdir/filename"`, or a bare filename in noarch: no sha256 to compare)."""
    found: dict[str, dict[str, str | None]] = {}
    for item in files:
        if isinstance(item, Path):
            found.setdefault(item.parent.name, {})[item.name] = hashlib.sha256(item.read_bytes()).hexdigest()
        else:
            subdir, _, filename = item.rpartition("/")
            found.setdefault(subdir or "noarch", {})[filename] = None
    return found


def judge_channel(channel: Channel, expected_files: Iterable[Path | str], exact_in: Collection[str] = VIEWS) -> None:
    """Assert that py-rattler, in a child process, sees exactly `expected_files` in `channel` through
    `repodata.json`, through `repodata.json.zst` and through the CEP-16 shards (in every subdir of `SUBDIRS`),
    that each subdir holding a record has a shard index, and that each file a record names downloads with the
    record's sha256 (and, for a package file given as a `Path`, with that file's sha256).

    `exact_in` names the views that must show all of `expected_files`; the others may show fewer (a writer that
    died between its commit to the shards and its compaction leaves `repodata.json` behind), never more."""
    expected = _expected(expected_files)
    checked = sorted({*SUBDIRS, *expected})
    if channel.is_s3:
        location, endpoint = channel.url, ["--endpoint", channel.s3.endpoint_url or ""]
    else:
        assert channel.path is not None
        location, endpoint = str(channel.path), []
    result = subprocess.run(
        [sys.executable, str(CLIENT), "judge", location, *checked, *endpoint],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"py-rattler could not read the channel: {result.stderr}"
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    for subdir in checked:
        want = expected.get(subdir, {})
        assert seen["shard_index"][subdir] or not want, f"py-rattler found no shard index in {subdir}"
        for view, by_subdir in seen["views"].items():
            records = by_subdir[subdir]
            shown = f"py-rattler through {view} sees in {subdir}: {sorted(records)}, expected {sorted(want)}"
            assert set(records) == set(want) if view in exact_in else set(records) <= set(want), shown
            for filename, record in records.items():
                assert record["subdir"] == subdir, (view, filename, record)
                downloaded = seen["files"][record["url"]]
                assert downloaded is not None, f"{view} names {subdir}/{filename}, which py-rattler cannot download"
                assert downloaded == record["sha256"], f"{view}: {subdir}/{filename} does not match its sha256"
                assert want[filename] in (None, record["sha256"]), f"{view}: {subdir}/{filename} is another build"
