"""local storage: never writes outside the channel folder, handles long names, says when it waits on a lock,
and leaves nothing behind that check does not report and index does not clean."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from support.cli import run_cli
from support.packages import make_package

import condafarm.storage.files as files
import condafarm.storage.local as local
from condafarm import check_channel, index_channel, parse_channel, publish
from condafarm.channel.commit.leftovers import LEFTOVER_SECONDS
from condafarm.channel.commit.store import load_repodata
from condafarm.errors import AccessDenied
from condafarm.storage import open_storage


def _tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def test_index_never_writes_through_symlinks_that_lead_outside_the_channel(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make_package(outside, "foreign", "1.0", subdir="linux-64")
    stray = make_package(tmp_path / "elsewhere", "stray", "1.0")
    before = _tree(outside)
    root = tmp_path / "channel"
    make_package(root, "inside", "1.0")
    (root / "linux-64").symlink_to(outside / "linux-64", target_is_directory=True)
    (root / "noarch" / stray.name).symlink_to(stray)
    report = index_channel(parse_channel(str(root)))
    assert _tree(outside) == before  # no repodata.json, shards or state written there
    assert [s.subdir for s in report.subdirs] == ["noarch"]
    assert sorted(load_repodata(open_storage(parse_channel(str(root))), "noarch")[0].records()) == [
        "inside-1.0-h0_0.conda"
    ]


def test_writes_through_a_symlinked_folder_outside_the_channel_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "channel"
    root.mkdir()
    (root / "noarch").symlink_to(outside, target_is_directory=True)
    result = run_cli("publish", str(make_package(tmp_path / "staging", "tool", "1.0")), "--to", str(root))
    assert result.returncode == 4, result.stderr
    assert "outside the channel folder" in result.stderr
    assert list(outside.iterdir()) == []


def test_a_package_with_a_241_character_filename_publishes_to_a_folder(tmp_path: Path) -> None:
    package = make_package(tmp_path / "staging", "a" * 226, "1.0")
    assert len(package.name) == 241
    root = tmp_path / "channel"
    publish(parse_channel(str(root)), [package])
    assert (root / "noarch" / package.name).read_bytes() == package.read_bytes()
    assert check_channel(parse_channel(str(root))).ok


def test_a_file_given_as_a_channel_is_a_usage_error(tmp_path: Path) -> None:
    file = tmp_path / "not-a-channel"
    file.write_text("hello")
    result = run_cli("ls", str(file))
    assert result.returncode == 2
    assert "is a file, not a channel folder" in result.stderr and "Traceback" not in result.stderr


def test_leftover_temporary_files_are_reported_and_old_ones_removed_by_index(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    make_package(root, "tool", "1.0")
    index_channel(parse_channel(str(root)))
    old = root / "noarch" / ".tool-2.0-h0_0.conda.0123456789ab.tmp"
    old.write_bytes(b"x" * 76)
    stale = time.time() - LEFTOVER_SECONDS - 60
    os.utime(old, (stale, stale))
    fresh = root / "noarch" / "shards" / ".abc.msgpack.zst.ba9876543210.tmp"
    fresh.write_bytes(b"y")
    deep = root / "noarch" / ".condafarm" / "provenance" / ".tool.json.0123456789ab.tmp"
    deep.parent.mkdir(parents=True, exist_ok=True)
    deep.write_bytes(b"z")
    os.utime(deep, (stale, stale))
    problems = check_channel(parse_channel(str(root))).problems
    assert len(problems) == 3 and all("left by an interrupted write" in p for p in problems)
    index_channel(parse_channel(str(root)))
    assert not old.exists() and not deep.exists() and fresh.exists()  # a write may still be filling a fresh one


def test_index_on_a_host_whose_clock_runs_ahead_of_the_folders_leaves_a_live_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a share the folder's server stamps the file; this host's clock runs two hours ahead of it."""
    root = tmp_path / "channel"
    make_package(root, "tool", "1.0")
    index_channel(parse_channel(str(root)))
    live = root / "noarch" / ".tool-2.0-h0_0.conda.0123456789ab.tmp"  # an upload being copied right now
    live.write_bytes(b"x" * 76)
    real_time = time.time
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: real_time() + 7200)
        index_channel(parse_channel(str(root)))
    assert live.exists(), "a live upload's temporary file was removed"
    assert _tree(root) >= {"noarch/.tool-2.0-h0_0.conda.0123456789ab.tmp"}
    assert not [p for p in _tree(root) if ".clock." in p], "the folder's clock probe was left behind"


def test_a_folder_that_cannot_be_written_reports_its_leftovers_age_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "channel"
    make_package(root, "tool", "1.0")
    index_channel(parse_channel(str(root)))
    (root / "noarch" / ".tool-2.0-h0_0.conda.0123456789ab.tmp").write_bytes(b"x")

    def read_only(path: Path, *args: object) -> Path:
        raise AccessDenied(f"cannot write in {path.parent}: permission denied")

    monkeypatch.setattr(local, "write_temp", read_only)
    problems = check_channel(parse_channel(str(root))).problems
    assert len(problems) == 1 and "(1 bytes, age unknown)" in problems[0], problems


def test_waiting_on_a_lock_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "channel"
    publish(parse_channel(str(root)), [make_package(tmp_path / "a", "first", "1.0")])
    lock = root / "noarch" / ".repodata.json.lock"
    lock.write_text("")  # a crashed writer's lock
    monkeypatch.setattr(files, "LOCK_PATIENCE_SECONDS", 0.05)
    monkeypatch.setattr(files, "STALE_LOCK_SECONDS", 0.5)
    with caplog.at_level(logging.WARNING):
        publish(parse_channel(str(root)), [make_package(tmp_path / "b", "second", "1.0")])
    assert any("waiting for" in r.message and ".repodata.json.lock" in r.message for r in caplog.records)
    assert check_channel(parse_channel(str(root))).ok


def test_a_failed_first_build_leaves_no_empty_folders_in_a_new_channel(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(
        'package:\n  name: failing\n  version: "1.0"\nbuild:\n  noarch: generic\n  script:\n    - exit 1\n'
    )
    root = tmp_path / "new-channel"
    result = run_cli("build", str(recipe), "--to", str(root), "--build-number=+1")
    assert result.returncode == 8, result.stderr
    assert _tree(root) == set() if root.exists() else True


class WaiterClock:
    """This host's monotonic clock as `hold_lock` reads it, moved on only by its own sleeps: a wait of minutes
    without waiting. The wall clock stays the real one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tick: Callable[[float], None] | None = None) -> None:
        self.now = 0.0
        self._tick = tick
        monkeypatch.setattr(files, "time", SimpleNamespace(monotonic=self.monotonic, sleep=self.sleep, time=time.time))

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self._tick is not None:
            self._tick(self.now)


def _lock_of(path: Path, mtime: float) -> Path:
    lock = files.hidden_sibling(path, "lock")
    lock.touch()
    os.utime(lock, (mtime, mtime))
    return lock


def test_a_lock_stamped_long_ago_is_waited_on_before_it_is_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The share's clock (which stamps the lock) is an hour behind this host's: its holder may be at work."""
    _lock_of(tmp_path / "state.json", time.time() - 3600)
    clock = WaiterClock(monkeypatch)
    with files.hold_lock(tmp_path / "state.json"):
        taken = clock.now
    assert taken >= files.STALE_LOCK_SECONDS, f"a lock seen for {taken:.1f}s was broken"


def test_a_crashed_writers_lock_stamped_in_the_future_is_broken_once_seen_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The share's clock is an hour ahead: by its mtime the lock would look fresh until the wait timed out."""
    _lock_of(tmp_path / "state.json", time.time() + 3600)
    clock = WaiterClock(monkeypatch)
    with files.hold_lock(tmp_path / "state.json"):
        taken = clock.now
    assert files.STALE_LOCK_SECONDS <= taken < files.STALE_LOCK_SECONDS + 1


def test_a_lock_that_changes_hands_is_waited_on_from_its_new_holding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = _lock_of(tmp_path / "state.json", time.time())
    handed = []

    def another_writer_takes_it(now: float) -> None:
        if now >= 30 and not handed:
            handed.append(now)
            lock.unlink()
            _lock_of(tmp_path / "state.json", time.time() + 1)

    clock = WaiterClock(monkeypatch, another_writer_takes_it)
    with files.hold_lock(tmp_path / "state.json"):
        taken = clock.now
    assert handed, "the lock never changed hands"
    assert taken >= handed[0] + files.STALE_LOCK_SECONDS, "the new holding was broken on the old one's time"
