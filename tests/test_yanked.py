"""Yanked packages stay installable by exact file and sha256 (lockfiles, job records); only new solves ignore
them: yanked by a person or by a prune, in a folder and on S3."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from support.cli import run_cli
from support.environments import env_with, folder_channel, render_packages
from support.packages import make_package
from support.proxy import fault_proxy
from support.s3 import S3Endpoint

from condafarm.env.request.lockfile import read_explicit_lockfile

TOOL = "render-tool-1.0-h0_0.conda"


def _locked(channels: str, tmp_path: Path, **env: str) -> Path:
    """The lockfile of an environment made now from `channels`."""
    made = run_cli(
        "env", "create", str(tmp_path / "locked"), "--packages", "render-tool", "--channels", channels,
        "--cache-dir", str(tmp_path / "cache-0"), env=env_with(tmp_path / "cache-0", **env),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    lock = tmp_path / "env.lock.txt"
    assert run_cli("env", "export", str(tmp_path / "locked"), "--lockfile", str(lock)).returncode == 0
    return lock


def _create(tmp_path: Path, name: str, *args: str, **env: str):  # type: ignore[no-untyped-def]
    cache = tmp_path / f"cache-{name}"
    return run_cli("env", "create", str(tmp_path / name), *args, "--cache-dir", str(cache), env=env_with(cache, **env))


def test_a_yanked_package_installs_from_a_lockfile_and_a_job_record_but_not_from_a_solve(tmp_path: Path) -> None:
    channel = folder_channel(tmp_path / "channel")
    lock = _locked(str(channel), tmp_path)
    records = tmp_path / "records"
    session = ["env", "enter", "--packages", "render-tool", "--channels", str(channel), "--job-records", str(records)]
    first = run_cli(*session, env=env_with(tmp_path / "cache-a", DEADLINE_JOB_ID="job-y"))
    assert first.returncode == 0, first.stderr
    assert run_cli("yank", str(channel), TOOL).returncode == 0

    solved = _create(tmp_path, "solved", "--packages", "render-tool", "--channels", str(channel))
    assert solved.returncode == 9, solved.stderr  # a new solve no longer sees it
    from_lock = _create(tmp_path, "from-lock", "--lockfile", str(lock))
    assert from_lock.returncode == 0, from_lock.stderr
    assert (tmp_path / "from-lock" / "bin" / "render-tool").is_file()
    later = run_cli(*session, env=env_with(tmp_path / "cache-b", DEADLINE_JOB_ID="job-y"))
    assert later.returncode == 0, later.stderr
    assert f"{(channel / 'noarch' / TOOL).as_uri()}  sha256:" in later.stdout


@pytest.mark.posix("makes a fifo")
def test_a_fifo_in_place_of_a_kept_yanked_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    channel = folder_channel(tmp_path / "channel")
    lock = _locked(str(channel), tmp_path)
    assert run_cli("yank", str(channel), TOOL).returncode == 0
    kept = channel / "noarch" / TOOL
    kept.unlink()
    os.mkfifo(kept)  # no one ever writes it: reading the record back from it would wait for good
    from_lock = run_cli(
        "env", "create", str(tmp_path / "e"), "--lockfile", str(lock), "--cache-dir", str(tmp_path / "c"), timeout=60
    )  # fmt: skip
    assert from_lock.returncode == 4, from_lock.stderr
    assert f"{kept} is not a file (a fifo or a device); condafarm does not read it: remove it" in from_lock.stderr
    assert len(from_lock.stderr.splitlines()) == 1 and not (tmp_path / "e").exists()


def test_a_package_a_prune_yanked_on_s3_installs_from_a_lockfile(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    """The record comes back from the kept file with a ranged read at most (publish stores the hashes with the
    object), not a second download: py-rattler's is the only whole GET of each package."""
    from condafarm import S3Options, parse_channel, prune_channel

    channel = f"s3://{bucket}/Conda/Default"
    render_packages(tmp_path / "b0")
    _publish(channel, sorted((tmp_path / "b0" / "noarch").glob("*.conda")), s3)
    lock = _locked(channel, tmp_path, **s3.env())
    _publish(channel, [make_package(tmp_path / "b1", "render-tool", "1.0", 1, depends=["render-lic >=2"])], s3)
    options = S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    report = prune_channel(parse_channel(channel, options), keep=1, spec="render-tool", yes=True)
    assert [item.filename for item in report.yanked] == [TOOL]

    with fault_proxy(s3.port) as proxy:
        from_lock = _create(tmp_path, "from-lock", "--lockfile", str(lock), **S3Endpoint(proxy.url, proxy.port).env())
        assert from_lock.returncode == 0, from_lock.stderr
        assert f"{channel}/noarch/{TOOL}" in from_lock.stdout
        tally = proxy.tally
        assert tally.count("GetObject", ".conda") == 2  # each package once, by py-rattler
        assert tally.count("HeadObject", ".conda") == 1 and tally.count("GetObject(range)", ".conda") <= 1


def _publish(channel: str, files: list[Path], s3: S3Endpoint) -> None:
    published = run_cli("publish", *map(str, files), "--to", channel, env={**os.environ, **s3.env()})
    assert published.returncode == 0, published.stderr


def test_a_yanked_file_must_still_have_the_locked_sha256(tmp_path: Path) -> None:
    channel = folder_channel(tmp_path / "channel")
    lock = _locked(str(channel), tmp_path)
    assert run_cli("yank", str(channel), TOOL).returncode == 0
    make_package(tmp_path / "other", "render-tool", "1.0", script=True, depends=["render-lic >=2"], payload="X")
    shutil.copyfile(tmp_path / "other" / "noarch" / TOOL, channel / "noarch" / TOOL)
    replaced = _create(tmp_path, "replaced", "--lockfile", str(lock))
    assert replaced.returncode == 9, replaced.stderr
    assert "sha256" in replaced.stderr and not (tmp_path / "replaced").exists()


def test_a_file_its_channel_never_indexed_does_not_install_from_a_lockfile(tmp_path: Path) -> None:
    """Only yanked files (named in `removed`) are looked up outside the index."""
    channel = folder_channel(tmp_path / "channel")
    stray = make_package(channel, "render-tool", "1.0", 7, script=True, depends=["render-lic >=2"])
    text = _locked(str(channel), tmp_path).read_text()
    _, packages = read_explicit_lockfile(text)
    tool = next(p for p in packages if p.filename == TOOL)
    lock = tmp_path / "stray.lock.txt"
    digest = hashlib.sha256(stray.read_bytes()).hexdigest()
    lock.write_text(text.replace(f"{tool.url}#sha256:{tool.sha256}", f"{stray.as_uri()}#sha256:{digest}"))
    stray_run = _create(tmp_path, "stray", "--lockfile", str(lock))
    assert stray_run.returncode == 3, stray_run.stderr
    assert "no longer in its channel" in stray_run.stderr and not (tmp_path / "stray").exists()
