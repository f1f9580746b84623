"""The host's environment cache (`CONDAFARM_ENV_CACHE`) as an unlucky or hostile host leaves it: shared by the jobs
of several users, who may plant symlinks in it, and by jobs killed in the middle of removing an environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.cli import run_cli
from support.dying import DIED
from support.environments import env_with, folder_channel, openjd_env

DYING = Path(__file__).parent / "support" / "dying.py"


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    return folder_channel(tmp_path / "channel")


def _enter(channel: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    result = run_cli("env", "enter", "--packages", "render-tool", "--channels", str(channel), env=env_with(cache))
    assert result.returncode == 0, result.stderr
    return result


def _unused_for_two_hours(stamp: Path) -> None:
    two_hours_ago = time.time() - 7200
    os.utime(stamp, (two_hours_ago, two_hours_ago))


@pytest.mark.posix("plants symlinks")
def test_cleanup_never_deletes_through_a_symlink_planted_in_the_cache(channel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _enter(channel, cache)
    # another user of the shared cache links an "environment" to someone's folder whose sub-folders have numbers
    victim = tmp_path / "victim"
    (victim / "1").mkdir(parents=True)
    (victim / "1" / "shot-010.exr").write_text("frames")
    (cache / "envs" / "planted").symlink_to(victim)
    (key,) = (p for p in (cache / "envs").iterdir() if p.name != "planted")
    (key / "2").symlink_to(victim / "1")  # and a generation inside a real entry
    again = run_cli(
        "env", "enter", "--packages", "render-tool", "--channels", str(channel), "--recreate", env=env_with(cache)
    )  # fmt: skip
    assert again.returncode == 0, again.stderr  # a generation made anew is numbered past the planted link
    assert Path(openjd_env(again.stdout)["CONDA_PREFIX"]) == key / "3"
    _unused_for_two_hours(key / "1.used")

    result = run_cli("env", "exit", "--cleanup-after-hours", "1", env=env_with(cache))
    assert result.returncode == 0, result.stderr
    assert (victim / "1" / "shot-010.exr").read_text() == "frames"
    assert sorted(p.name for p in victim.iterdir()) == ["1"]  # not even a lock file was made there
    assert not (key / "1").exists()  # the real, unused environment is removed
    assert "removed 1 environment(s)" in result.stdout


@pytest.mark.posix("plants symlinks")
def test_the_cache_records_replace_a_planted_symlink_instead_of_writing_through_it(
    channel: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _enter(channel, cache)
    (key,) = (cache / "envs").iterdir()
    profile = tmp_path / "profile"
    profile.write_text("export PATH=/usr/bin\n")
    for name in ("request.json", "1.used", "1.checked"):
        (key / name).unlink()
        (key / name).symlink_to(profile)

    again = run_cli(
        "env",
        "enter",
        "--packages",
        "render-tool",
        "--channels",
        str(channel),
        "--update-after-minutes",
        "0",
        env=env_with(cache),
    )
    assert again.returncode == 0, again.stderr
    assert profile.read_text() == "export PATH=/usr/bin\n"
    assert not any((key / name).is_symlink() for name in ("request.json", "1.used", "1.checked"))
    assert '"render-tool"' in (key / "request.json").read_text()


@pytest.mark.posix("runs the package's sh script")
def test_an_exit_killed_while_removing_an_environment_leaves_none_half_deleted(channel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    prefix = Path(openjd_env(_enter(channel, cache).stdout)["CONDA_PREFIX"])
    _unused_for_two_hours(prefix.parent / f"{prefix.name}.used")
    # the job is killed in the middle of the removal: bin/ is gone, conda-meta/ (and the manifest) not yet
    args = [sys.executable, str(DYING), "rmtree", "bin", "--", "env", "exit", "--cleanup-after-hours", "1"]
    died = subprocess.run(args, env=env_with(cache), capture_output=True, timeout=120)
    assert died.returncode == DIED, died.stderr

    after = _enter(channel, cache)
    assert "(reused)" not in after.stdout
    env = openjd_env(after.stdout)
    tool = subprocess.run(["render-tool"], env={**os.environ, "PATH": env["PATH"]}, capture_output=True, text=True)
    assert tool.stdout.strip() == "render-tool 1.0 build 0", tool.stderr
    assert not list(prefix.parent.glob(".creating-*"))


@pytest.mark.posix("plants symlinks")
def test_a_lock_planted_as_a_symlink_is_refused_not_created_through(channel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _enter(channel, cache)
    (key,) = (cache / "envs").iterdir()
    elsewhere = tmp_path / "home" / ".profile"
    elsewhere.parent.mkdir()
    (key / "lock").unlink()
    (key / "lock").symlink_to(elsewhere)

    args = ("env", "enter", "--packages", "render-tool", "--channels", str(channel))
    result = run_cli(*args, env=env_with(cache))
    assert result.returncode == 4, result.stderr
    assert f"{key / 'lock'} is a symlink" in result.stderr and result.stderr.endswith("remove it\n")
    assert not elsewhere.exists()
    cleanup = run_cli("env", "exit", "--cleanup-after-hours", "0", env=env_with(cache))
    assert cleanup.returncode == 0 and "is a symlink" in cleanup.stdout, cleanup.stderr  # the entry is skipped
    assert not elsewhere.exists() and (key / "1").is_dir()
    (key / "lock").unlink()
    assert run_cli(*args, env=env_with(cache)).returncode == 0  # what the message says to do works


@pytest.mark.posix("plants symlinks")
def test_an_environment_folder_planted_as_a_symlink_is_refused_not_written_through(
    channel: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _enter(channel, cache)
    (key,) = (cache / "envs").iterdir()
    key.rename(tmp_path / "moved")
    home = tmp_path / "home"
    home.mkdir()
    (home / "request.json").write_text("mine")
    key.symlink_to(home)

    args = ("env", "enter", "--packages", "render-tool", "--channels", str(channel))
    result = run_cli(*args, env=env_with(cache))
    assert result.returncode == 4, result.stderr
    assert f"{key} is a symlink" in result.stderr and result.stderr.endswith("remove it\n")
    assert sorted(p.name for p in home.iterdir()) == ["request.json"] and (home / "request.json").read_text() == "mine"
    key.unlink()
    assert run_cli(*args, env=env_with(cache)).returncode == 0  # what the message says to do works


@pytest.mark.posix("plants symlinks")
def test_an_envs_folder_planted_as_a_symlink_is_never_cleaned_or_written_through(channel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    projects = tmp_path / "projects"  # someone's folders, numbered as shot versions often are
    (projects / "shot-010" / "1").mkdir(parents=True)
    (projects / "shot-010" / "1" / "frame.exr").write_text("frames")
    (cache / "envs").symlink_to(projects)  # planted before the first job on the host made the folder

    cleanup = run_cli("env", "exit", "--cleanup-after-hours", "1", env=env_with(cache))
    assert cleanup.returncode == 0, cleanup.stderr
    assert (projects / "shot-010" / "1" / "frame.exr").read_text() == "frames"
    assert f"{cache / 'envs'} is a symlink" in cleanup.stdout
    args = ("env", "enter", "--packages", "render-tool", "--channels", str(channel))
    refused = run_cli(*args, env=env_with(cache))
    assert refused.returncode == 4 and refused.stderr.endswith("remove it\n"), refused.stderr
    assert sorted(p.name for p in projects.iterdir()) == ["shot-010"]
    (cache / "envs").unlink()
    assert run_cli(*args, env=env_with(cache)).returncode == 0  # what the message says to do works
