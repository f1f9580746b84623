"""prune: old builds are yanked first and deleted only after a grace period, never a protected or a person's yank,
and never a record a concurrent publisher added."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from support.cli import publish_concurrently, run_cli
from support.installs import install
from support.judge import judge_channel
from support.packages import make_package
from support.s3 import S3Endpoint

from condafarm import Channel, PruneReport, check_channel, parse_channel, prune_channel
from condafarm.channel.commit.store import load_repodata, update_repodata
from condafarm.channel.curate import prune as prune_module
from condafarm.channel.curate import yank
from condafarm.channel.curate.prune import LEDGER_KEY
from condafarm.channel.provenance import provenance_key
from condafarm.channel.publish import publish
from condafarm.conda.repodata import Repodata
from condafarm.errors import StorageError, UsageError
from condafarm.storage import Storage, open_storage
from condafarm.storage.local import LocalStorage
from condafarm.storage.s3 import S3Storage

DAY = 86400


def _published(channel: Channel, tmp_path: Path) -> list[Path]:
    """tool 1.0 builds 0-4 and tool 1.1 build 0 in noarch; lib 2.0 builds 0-2 in linux-64 (returned)."""
    out = tmp_path / "out"
    files = [make_package(out, "tool", "1.0", b) for b in range(5)]
    files += [make_package(out, "tool", "1.1", 0)]
    files += [make_package(out, "lib", "2.0", b, subdir="linux-64") for b in range(3)]
    publish(channel, files)
    return files


def _but(files: list[Path], *gone: str) -> list[Path]:
    """`files` without those named `gone`."""
    return [f for f in files if f.name not in gone]


def _live(storage: Storage, subdir: str = "noarch") -> set[str]:
    return set(load_repodata(storage, subdir)[0].records())


#: The stores' own clocks, as `_later` finds them before it moves them.
_STORE_TIME = {kind: kind.store_time for kind in (LocalStorage, S3Storage)}


def _later(monkeypatch: pytest.MonkeyPatch, hours: float) -> None:
    """Let `hours` pass on the stores' clocks, which prune times its grace period by (hosts' clocks stay real)."""
    for kind, real in _STORE_TIME.items():
        monkeypatch.setattr(kind, "store_time", lambda self, real=real: (now := real(self)) and now + hours * 3600)


def _host_ahead(monkeypatch: pytest.MonkeyPatch, hours: float) -> None:
    """Move this host's clock, as prune reads it, `hours` ahead of the store's."""
    real = time.time
    monkeypatch.setattr(prune_module, "time", SimpleNamespace(time=lambda: real() + hours * 3600))


def _age(storage: Storage, subdir: str, names: list[str], days: float) -> None:
    """Make `names` look built and indexed `days` ago."""
    stamp = int((time.time() - days * DAY) * 1000)

    def change(repodata: Repodata) -> None:
        for name in names:
            record = repodata.get(name)
            assert record is not None
            record.update(timestamp=stamp, indexed_timestamp=stamp)

    update_repodata(storage, subdir, change)


def _snapshot(storage: Storage) -> dict[str, bytes]:
    found = {}
    for subdir in ("noarch", "linux-64"):
        for folder in (f"{subdir}/", f"{subdir}/.condafarm/", f"{subdir}/shards/"):
            for info in storage.list_objects(folder):
                blob = storage.get(info.key)
                assert blob is not None
                found[info.key] = blob.data
    return found


def test_dry_run_lists_what_would_go_and_changes_nothing(channel: Channel, tmp_path: Path) -> None:
    _published(channel, tmp_path)
    storage = open_storage(channel)
    before = _snapshot(storage)
    report = prune_channel(channel, keep=2)
    assert report.dry_run
    assert [f"{i.subdir}/{i.filename}" for i in report.yanked] == [
        "linux-64/lib-2.0-h0_0.conda",
        "noarch/tool-1.0-h0_0.conda",
        "noarch/tool-1.0-h0_1.conda",
        "noarch/tool-1.0-h0_2.conda",
    ]
    assert report.yanked[0].build == "h0_0" and report.yanked[0].size > 0 and report.yanked[0].age_days is not None
    assert report.kept == 5 and report.deleted == [] and report.bytes_freed == 0
    assert _snapshot(open_storage(channel)) == before
    assert not any(op.startswith(("Put", "Delete", "Copy")) for op in report.requests)


def test_keep_counts_build_numbers_per_name_version_and_subdir_so_variants_stay(tmp_path: Path) -> None:
    channel = parse_channel(str(tmp_path / "channel"))
    out = tmp_path / "out"
    files = [make_package(out, "tool", "1.0", b, build=f"py{py}h0_{b}") for b in range(3) for py in (310, 311)]
    files += [make_package(out, "tool", "1.1", 0), make_package(out, "tool", "1.0", 0, subdir="linux-64")]
    publish(channel, files)
    report = prune_channel(channel, keep=1, yes=True)
    assert sorted(i.filename for i in report.yanked) == [
        "tool-1.0-py310h0_0.conda",
        "tool-1.0-py310h0_1.conda",
        "tool-1.0-py311h0_0.conda",
        "tool-1.0-py311h0_1.conda",
    ]
    storage = open_storage(channel)
    assert _live(storage) == {"tool-1.0-py310h0_2.conda", "tool-1.0-py311h0_2.conda", "tool-1.1-h0_0.conda"}
    assert _live(storage, "linux-64") == {"tool-1.0-h0_0.conda"}


def test_newer_than_keeps_recent_builds_and_a_build_any_rule_keeps_stays(channel: Channel, tmp_path: Path) -> None:
    _published(channel, tmp_path)
    storage = open_storage(channel)
    _age(storage, "noarch", [f"tool-1.0-h0_{b}.conda" for b in (0, 1, 4)], days=40)
    alone = prune_channel(channel, newer_than_days=30)
    assert sorted(i.filename for i in alone.yanked) == [
        "tool-1.0-h0_0.conda",
        "tool-1.0-h0_1.conda",
        "tool-1.0-h0_4.conda",
    ]
    assert all(i.age_days is not None and 39.9 < i.age_days < 40.1 for i in alone.yanked)
    both = prune_channel(channel, keep=1, newer_than_days=30, yes=True)
    assert sorted(i.filename for i in both.yanked) == ["tool-1.0-h0_0.conda", "tool-1.0-h0_1.conda"]
    assert _live(storage) == {f"tool-1.0-h0_{b}.conda" for b in (2, 3, 4)} | {"tool-1.1-h0_0.conda"}
    assert _live(storage, "linux-64") == {f"lib-2.0-h0_{b}.conda" for b in range(3)}


def test_usage_errors_need_a_rule_and_sane_numbers(tmp_path: Path) -> None:
    channel = parse_channel(str(tmp_path / "channel"))
    _published(channel, tmp_path)
    for kwargs, message in (
        ({}, "--keep N"),
        ({"keep": 0}, "at least 1"),
        ({"newer_than_days": 0}, "above 0"),
        ({"newer_than_days": float("nan")}, "above 0"),
        ({"newer_than_days": float("inf")}, "at most"),
        ({"keep": 1, "grace_hours": -1}, "at least 0"),
        ({"keep": 1, "grace_hours": float("nan")}, "at least 0"),
        ({"keep": 1, "protect_window_days": float("-inf")}, "at least 0"),
        ({"keep": 1.5}, "whole number"),
        ({"keep": 1, "spec": "tool >>= 1"}, "not a valid match spec"),
    ):
        with pytest.raises(UsageError, match=message):
            prune_channel(channel, **kwargs)


@pytest.mark.parametrize(
    "option", [["--newer-than", "nan"], ["--keep", "1", "--grace-hours", "nan"], ["--keep", "nan"], ["--keep", "-2"]]
)
def test_prune_refuses_nan_and_out_of_range_numbers_in_one_line_and_changes_nothing(
    tmp_path: Path, option: list[str]
) -> None:
    """`--newer-than nan` once yanked every build: NaN compares false with every age."""
    channel = parse_channel(str(tmp_path / "channel"))
    _published(channel, tmp_path)
    before = _snapshot(open_storage(channel))
    result = run_cli("prune", channel.url, *option, "--yes")
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert option[-2] in result.stderr and "--help" in result.stderr
    assert _snapshot(open_storage(channel)) == before


def test_spec_limits_both_phases_to_matching_packages(
    channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _published(channel, tmp_path)
    report = prune_channel(channel, keep=1, spec="lib", yes=True)
    assert [i.filename for i in report.yanked] == ["lib-2.0-h0_0.conda", "lib-2.0-h0_1.conda"]
    prune_channel(channel, keep=1, spec="tool 1.0.*", yes=True)
    _later(monkeypatch, 25)
    only_lib = prune_channel(channel, keep=1, spec="lib", yes=True)
    assert [i.filename for i in only_lib.deleted] == ["lib-2.0-h0_0.conda", "lib-2.0-h0_1.conda"]
    assert len(only_lib.waiting) == 0 and open_storage(channel).head("noarch/tool-1.0-h0_0.conda") is not None


def test_two_phases_delete_only_files_yanked_more_than_the_grace_period_ago(
    channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _published(channel, tmp_path)
    storage = open_storage(channel)
    first = prune_channel(channel, keep=2, yes=True)
    yanked = {f"{i.subdir}/{i.filename}" for i in first.yanked}
    assert len(yanked) == 4 and first.deleted == []
    repodata = load_repodata(storage, "noarch")[0]
    assert repodata.removed == ["tool-1.0-h0_0.conda", "tool-1.0-h0_1.conda", "tool-1.0-h0_2.conda"]
    assert all(storage.head(key) is not None for key in yanked)  # a job that solved earlier still downloads them
    assert all(storage.head(provenance_key(*key.split("/"))) is not None for key in yanked)
    ledger = json.loads(storage.get(f"noarch/{LEDGER_KEY}").data)["pruned"]  # type: ignore[union-attr]
    assert {e["state"] for e in ledger.values()} == {"yanked"} and len(ledger) == 3

    _later(monkeypatch, 23)
    inside = prune_channel(channel, keep=2, yes=True)
    assert inside.deleted == [] and inside.yanked == [] and len(inside.waiting) == 4
    assert all(storage.head(key) is not None for key in yanked)

    _later(monkeypatch, 25)
    dry = prune_channel(channel, keep=2)
    assert {f"{i.subdir}/{i.filename}" for i in dry.deleted} == yanked and storage.head(sorted(yanked)[0]) is not None
    after = prune_channel(channel, keep=2, yes=True)
    assert {f"{i.subdir}/{i.filename}" for i in after.deleted} == yanked
    assert after.bytes_freed == sum(i.size for i in first.yanked)
    assert all(storage.head(key) is None for key in yanked)
    assert all(storage.head(provenance_key(*key.split("/"))) is None for key in yanked)
    assert load_repodata(storage, "noarch")[0].removed == []
    assert json.loads(storage.get(f"noarch/{LEDGER_KEY}").data)["pruned"] == {}  # type: ignore[union-attr]
    assert _live(storage) == {"tool-1.0-h0_3.conda", "tool-1.0-h0_4.conda", "tool-1.1-h0_0.conda"}
    assert check_channel(channel).ok
    judge_channel(channel, [f for f in files if f"{f.parent.name}/{f.name}" not in yanked])


def test_packages_a_person_yanked_are_never_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = parse_channel(str(tmp_path / "channel"))
    _published(channel, tmp_path)
    yank(channel, ["tool-1.0-h0_4.conda", "tool-1.1-h0_0.conda"])
    prune_channel(channel, keep=2, yes=True)
    _later(monkeypatch, 48)
    report = prune_channel(channel, keep=2, yes=True)
    assert sorted(i.filename for i in report.deleted) == [
        "lib-2.0-h0_0.conda",
        "tool-1.0-h0_0.conda",
        "tool-1.0-h0_1.conda",
    ]
    storage = open_storage(channel)
    assert storage.head("noarch/tool-1.0-h0_4.conda") is not None and storage.head("noarch/tool-1.1-h0_0.conda")
    assert load_repodata(storage, "noarch")[0].removed == ["tool-1.0-h0_4.conda", "tool-1.1-h0_0.conda"]


def _lockfile(path: Path, *urls: str) -> Path:
    lines = ["# platform: linux-64", "@EXPLICIT", *(f"{u}#sha256:{'0' * 64}" for u in urls)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_files_a_recent_lockfile_names_stay(channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _published(channel, tmp_path)
    storage = open_storage(channel)
    recent = _lockfile(tmp_path / "job.lock", f"{channel.url}/noarch/tool-1.0-h0_0.conda")
    report = prune_channel(channel, keep=2, protect_lockfiles=[recent], yes=True)
    assert [i.filename for i in report.protected] == ["tool-1.0-h0_0.conda"]
    assert report.lockfiles == [str(recent)]
    assert "tool-1.0-h0_0.conda" in _live(storage)

    # a lockfile written after the yank keeps the file past the grace period; an old one does not
    records = tmp_path / "job-records"
    records.mkdir()
    _lockfile(records / "a.txt", "https://mirror.example/Conda/noarch/tool-1.0-h0_1.conda")
    old = _lockfile(records / "b.txt", "s3://elsewhere/channel/noarch/tool-1.0-h0_2.conda")
    os.utime(old, (time.time() - 40 * DAY, time.time() - 40 * DAY))
    (records / "notes.md").write_text("no package here\n")
    _later(monkeypatch, 25)
    later = prune_channel(channel, keep=2, protect_lockfiles=[recent, records], yes=True)
    assert sorted(i.filename for i in later.deleted) == ["lib-2.0-h0_0.conda", "tool-1.0-h0_2.conda"]
    assert sorted(i.filename for i in later.protected) == ["tool-1.0-h0_0.conda", "tool-1.0-h0_1.conda"]
    assert storage.head("noarch/tool-1.0-h0_1.conda") is not None
    assert check_channel(channel).ok


def test_a_protecting_lockfile_that_is_missing_or_names_nothing_stops_the_prune(tmp_path: Path) -> None:
    channel = parse_channel(str(tmp_path / "channel"))
    _published(channel, tmp_path)
    with pytest.raises(UsageError, match="no such file"):
        prune_channel(channel, keep=1, protect_lockfiles=[tmp_path / "typo.lock"], yes=True)
    (tmp_path / "empty.lock").write_text("@EXPLICIT\n")
    with pytest.raises(UsageError, match="names no package"):
        prune_channel(channel, keep=1, protect_lockfiles=[tmp_path / "empty.lock"], yes=True)
    assert load_repodata(open_storage(channel), "noarch")[0].removed == []


def test_a_build_published_or_yanked_meanwhile_is_taken_into_account(
    s3_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _published(s3_channel, tmp_path)
    newcomer = make_package(tmp_path / "late", "tool", "1.0", 9)
    real_update = prune_module._update_ledger
    calls = []

    def meanwhile(storage: Storage, subdir: str, change: Any) -> None:
        real_update(storage, subdir, change)
        calls.append(subdir)
        if subdir == "noarch" and calls.count("noarch") == 1:  # between noting the candidates and yanking them
            publish(s3_channel, [newcomer])
            yank(s3_channel, ["tool-1.0-h0_3.conda", "tool-1.0-h0_4.conda"])

    monkeypatch.setattr(prune_module, "_update_ledger", meanwhile)
    report = prune_channel(s3_channel, keep=2, yes=True)
    storage = open_storage(s3_channel)
    # h0_2 was a candidate, but with 3 and 4 yanked meanwhile it is one of the two newest: the re-check keeps it
    assert _live(storage) == {"tool-1.0-h0_2.conda", "tool-1.0-h0_9.conda", "tool-1.1-h0_0.conda"}
    assert {i.filename for i in report.yanked if i.subdir == "noarch"} == {"tool-1.0-h0_0.conda", "tool-1.0-h0_1.conda"}
    ledger = json.loads(storage.get(f"noarch/{LEDGER_KEY}").data)["pruned"]  # type: ignore[union-attr]
    assert set(ledger) == {"tool-1.0-h0_0.conda", "tool-1.0-h0_1.conda"}
    assert check_channel(s3_channel).ok
    yanked = ("tool-1.0-h0_0.conda", "tool-1.0-h0_1.conda", "tool-1.0-h0_3.conda", "tool-1.0-h0_4.conda")
    judge_channel(s3_channel, [*_but(files, *yanked, "lib-2.0-h0_0.conda"), newcomer])


@pytest.mark.slow
def test_concurrent_publishers_during_a_prune_lose_nothing(
    s3: S3Endpoint, s3_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _published(s3_channel, tmp_path)
    prune_channel(s3_channel, keep=2, yes=True)
    _later(monkeypatch, 25)
    new = tmp_path / "new"
    jobs = [make_package(new, f"job{i}", subdir=("noarch", "linux-64")[i % 2]) for i in range(8)]
    churn = [make_package(new, "churn", "1.0", b) for b in range(8)]  # keeps the prunes busy writing
    stop = threading.Event()

    def keep_pruning() -> list[PruneReport]:
        reports: list[PruneReport] = []
        while not stop.is_set() or not reports:
            reports.append(prune_channel(s3_channel, keep=1, yes=True))
        return reports

    with ThreadPoolExecutor(max_workers=1) as pool:
        pruning = pool.submit(keep_pruning)
        publish_concurrently(jobs + churn, s3_channel.url, s3.env())
        stop.set()
        assert len(pruning.result()) > 1
    prune_channel(s3_channel, keep=1, yes=True)
    storage = open_storage(s3_channel)
    live = _live(storage) | _live(storage, "linux-64")
    assert {f.name for f in jobs} <= live
    assert {n for n in live if n.startswith(("churn", "tool"))} == {
        "churn-1.0-h0_7.conda",
        "tool-1.0-h0_4.conda",
        "tool-1.1-h0_0.conda",
    }
    assert check_channel(s3_channel).ok
    kept = ("tool-1.0-h0_4.conda", "tool-1.1-h0_0.conda", "lib-2.0-h0_2.conda")
    judge_channel(s3_channel, [*jobs, churn[-1], *(f for f in files if f.name in kept)])


def test_a_prune_stopped_midway_never_deletes_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = parse_channel(str(tmp_path / "channel"))
    files = _published(channel, tmp_path)
    storage = open_storage(channel)

    def down(*args: Any, **kwargs: Any) -> None:
        raise StorageError("the store went away")

    with monkeypatch.context() as patch:  # stops after noting its candidates, before yanking them
        patch.setattr(prune_module, "update_repodata", down)
        with pytest.raises(StorageError):
            prune_channel(channel, keep=4, grace_hours=0, yes=True)
    assert "tool-1.0-h0_0.conda" in _live(storage)
    real_update = prune_module._update_ledger
    with monkeypatch.context() as patch:  # stops after yanking, before confirming the yank in the ledger
        patch.setattr(prune_module, "_update_ledger", _failing_second_call(real_update, down))
        with pytest.raises(StorageError):
            prune_channel(channel, keep=4, grace_hours=0, yes=True)
    assert "tool-1.0-h0_0.conda" not in _live(storage)
    restarted = prune_channel(channel, keep=4, grace_hours=0, yes=True)
    assert restarted.deleted == [] and [i.filename for i in restarted.waiting] == ["tool-1.0-h0_0.conda"]
    final = prune_channel(channel, keep=4, grace_hours=0, yes=True)
    assert [i.filename for i in final.deleted] == ["tool-1.0-h0_0.conda"]
    assert storage.head("noarch/tool-1.0-h0_0.conda") is None and check_channel(channel).ok
    judge_channel(channel, _but(files, "tool-1.0-h0_0.conda"))


def _failing_second_call(real: Any, failure: Any) -> Any:
    calls = []

    def wrapped(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 2:
            failure()
        real(*args)

    return wrapped


@pytest.mark.slow
def test_rattler_installs_the_newest_build_that_prune_kept(
    s3: S3Endpoint, s3_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(s3_channel, [make_package(tmp_path / "out", "farmtool", "1.0", b, script=True) for b in range(3)])
    prune_channel(s3_channel, keep=1, yes=True)
    _later(monkeypatch, 25)
    assert len(prune_channel(s3_channel, keep=1, yes=True).deleted) == 2
    prefix = tmp_path / "env"
    installed = install(s3_channel.url, prefix, "farmtool", endpoint=s3.url)
    assert [(r["name"], r["build_number"]) for r in installed] == [("farmtool", 2)]
    out = subprocess.run([str(prefix / "bin" / "farmtool")], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "farmtool 1.0 build 2"


def test_cli_prune_prints_a_dry_run_table_then_acts_with_yes(tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    _published(parse_channel(str(channel)), tmp_path)
    assert run_cli("prune", str(channel)).returncode == 2
    dry = run_cli("prune", str(channel), "--keep", "3", "--spec", "tool")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0].split() == ["action", "subdir", "file", "build", "age", "size"]
    assert lines[1].split()[:4] == ["yank", "noarch", "tool-1.0-h0_0.conda", "h0_0"]
    assert "would yank 2 file(s)" in dry.stdout and "pass --yes" in dry.stdout
    done = run_cli("prune", str(channel), "--keep", "3", "--spec", "tool", "--grace-hours", "0", "--yes")
    assert "yanked 2 file(s)" in done.stdout and "dry run" not in done.stdout
    again = run_cli("prune", str(channel), "--keep", "3", "--grace-hours", "0", "--yes")
    assert again.returncode == 0, again.stderr
    assert "deleted 2 file(s) yanked by an earlier prune" in again.stdout
    # what the maintenance bundle runs, with its optional parameters left empty
    scheduled = run_cli("prune", str(channel), "--keep", "1", "--spec", "", "--protect-lockfile", "", "--yes")
    assert scheduled.returncode == 0, scheduled.stderr
    assert "yanked 4 file(s)" in scheduled.stdout
    assert not (channel / "noarch" / "tool-1.0-h0_0.conda").exists()


def test_a_prune_on_a_host_whose_clock_runs_days_ahead_deletes_nothing_yanked_a_moment_ago(
    channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another host's prune yanked builds just now; jobs that solved earlier still download them during the grace
    period. This host's clock runs two days ahead: the store's clock, which times the grace, says no time passed."""
    _published(channel, tmp_path)
    first = prune_channel(channel, keep=2, yes=True)
    assert len(first.yanked) == 4
    _host_ahead(monkeypatch, 48)
    again = prune_channel(channel, keep=2, yes=True)
    assert again.deleted == [] and len(again.waiting) == 4
    storage = open_storage(channel)
    assert all(storage.head(f"{i.subdir}/{i.filename}") is not None for i in first.yanked)
    _later(monkeypatch, 25)
    assert len(prune_channel(channel, keep=2, yes=True).deleted) == 4
