"""Package bytes are checked against their repodata sha256 before anything is installed: a file replaced by
another valid package, truncated or garbage, in a folder or an S3 channel, through `--packages`, `--lockfile`
and `env enter`; and a package rattler's cache holds that was changed after extraction."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import run_cli
from support.environments import LIC_FILES, env_with, folder_channel, openjd_env, s3_render_channel
from support.packages import make_package
from support.s3 import S3Endpoint

LIC = "render-lic-2.0-h0_0.conda"


def _other_build(target: Path, tmp_path: Path) -> None:
    """A valid package of the same name, version and build string, with other contents."""
    other = make_package(tmp_path / "other", "render-lic", "2.0", payload="EVIL", files=LIC_FILES)
    assert other.name == target.name and other.read_bytes() != target.read_bytes()
    shutil.copyfile(other, target)


def _truncated(target: Path, tmp_path: Path) -> None:
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])


def _garbage(target: Path, tmp_path: Path) -> None:
    target.write_bytes(os.urandom(target.stat().st_size))


TAMPER: dict[str, Callable[[Path, Path], None]] = {
    "other-build": _other_build,
    "truncated": _truncated,
    "garbage": _garbage,
}


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    return folder_channel(tmp_path / "channel")


def _lockfile_of_good_environment(channel: Path, tmp_path: Path) -> Path:
    made = run_cli(
        "env", "create", str(tmp_path / "good"), "--packages", "render-tool", "--channels", str(channel),
        "--cache-dir", str(tmp_path / "good-cache"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    lock = tmp_path / "good.lock.txt"
    assert run_cli("env", "export", str(tmp_path / "good"), "--lockfile", str(lock)).returncode == 0
    return lock


def _assert_refused(result: object, url: str, prefix: Path) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 6, stderr  # type: ignore[attr-defined]
    assert stderr.count("\n") == 1 and stderr.startswith("condafarm: error: ")
    assert url in stderr and "--verify-hashes" in stderr
    assert not prefix.exists()
    assert not list(prefix.parent.glob(".creating-*"))


@pytest.mark.parametrize("how", sorted(TAMPER))
def test_folder_channel_package_that_differs_from_repodata_is_not_installed(
    channel: Path, tmp_path: Path, how: str
) -> None:
    lock = _lockfile_of_good_environment(channel, tmp_path)
    target = channel / "noarch" / LIC
    TAMPER[how](target, tmp_path)
    cache = tmp_path / "cache"
    by_spec = run_cli(
        "env", "create", str(tmp_path / "e"), "--packages", "render-tool", "--channels", str(channel),
        "--cache-dir", str(cache),
    )  # fmt: skip
    _assert_refused(by_spec, target.as_uri(), tmp_path / "e")
    by_lockfile = run_cli("env", "create", str(tmp_path / "l"), "--lockfile", str(lock), "--cache-dir", str(cache))
    _assert_refused(by_lockfile, target.as_uri(), tmp_path / "l")
    session = tmp_path / "session"
    session.mkdir()
    entered = run_cli(
        "env", "enter", "--packages", "render-tool", "--channels", str(channel), "--session-dir", str(session),
        env=env_with(cache),
    )  # fmt: skip
    assert entered.returncode == 6, entered.stderr
    assert target.as_uri() in entered.stderr and "openjd_env" not in entered.stdout
    assert not [p for p in (cache / "envs").glob("*/*") if p.name.isdigit() or p.name.startswith(".creating-")]
    # the hint in the error: `check --verify-hashes` names the damaged file
    checked = run_cli("check", str(channel), "--verify-hashes")
    assert checked.returncode == 7 and f"noarch/{LIC}" in checked.stdout + checked.stderr


@pytest.mark.posix("makes a fifo")
def test_a_fifo_in_place_of_a_folder_channel_package_is_refused_not_waited_on(channel: Path, tmp_path: Path) -> None:
    target = channel / "noarch" / LIC
    target.unlink()
    os.mkfifo(target)  # no one ever writes it: reading it to hash it would wait for good
    by_spec = run_cli(
        "env", "create", str(tmp_path / "e"), "--packages", "render-tool", "--channels", str(channel),
        "--cache-dir", str(tmp_path / "cache"), timeout=60,
    )  # fmt: skip
    _assert_refused(by_spec, target.as_uri(), tmp_path / "e")
    assert "it is not a file (a fifo or a device)" in by_spec.stderr


def test_replaced_package_installs_again_once_restored(channel: Path, tmp_path: Path) -> None:
    target = channel / "noarch" / LIC
    good = target.read_bytes()
    _other_build(target, tmp_path)
    args = ["env", "create", str(tmp_path / "e"), "--packages", "render-tool", "--channels", str(channel)]
    args += ["--cache-dir", str(tmp_path / "cache")]
    assert run_cli(*args).returncode == 6
    target.write_bytes(good)
    restored = run_cli(*args)
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "e" / "share" / "render-lic.txt").read_text() == "render-lic 2.0 \n"


def test_changed_file_in_the_package_cache_is_not_linked(channel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    args = ["--packages", "render-tool", "--channels", str(channel), "--cache-dir", str(cache)]
    assert run_cli("env", "create", str(tmp_path / "a"), *args).returncode == 0
    (cached,) = (cache / "pkgs").glob("render-lic-2.0-h0_0/share/render-lic.txt")
    cached.write_text("changed in the cache\n")
    again = run_cli("env", "create", str(tmp_path / "b"), *args)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "b" / "share" / "render-lic.txt").read_text() == "render-lic 2.0 \n"


def test_record_without_sha256_is_refused(channel: Path, tmp_path: Path) -> None:
    repodata = channel / "noarch" / "repodata.json"
    data = json.loads(repodata.read_text())
    for record in data["packages.conda"].values():
        record.pop("sha256")
    repodata.write_text(json.dumps(data))
    for derived in ("repodata.json.zst", "repodata_shards.msgpack.zst"):
        (channel / "noarch" / derived).unlink(missing_ok=True)
    shutil.rmtree(channel / "noarch" / "shards", ignore_errors=True)
    args = ["env", "create", str(tmp_path / "e"), "--packages", "render-tool", "--channels", str(channel)]
    args += ["--cache-dir", str(tmp_path / "cache")]
    result = run_cli(*args)
    assert result.returncode == 6, result.stderr
    assert result.stderr.count("\n") == 1 and "no sha256" in result.stderr
    assert f"`condafarm index {channel.as_uri()}`" in result.stderr
    assert not (tmp_path / "e").exists()
    assert run_cli("index", channel.as_uri()).returncode == 0  # the hint in the error
    assert run_cli(*args).returncode == 0


@pytest.mark.parametrize("how", ["other-build", "truncated"])
def test_s3_package_that_differs_from_repodata_is_a_package_error(
    s3: S3Endpoint, bucket: str, tmp_path: Path, how: str
) -> None:
    channel = s3_render_channel(s3, bucket, tmp_path)
    env = env_with(tmp_path / "cache", **{k: v for k, v in s3.env().items() if k.startswith("S3_")})
    session = tmp_path / "session"
    session.mkdir()
    good = run_cli(
        "env", "enter", "--packages", "render-tool", "--channels", channel, "--session-dir", str(session), env=env
    )
    assert good.returncode == 0, good.stderr
    assert Path(openjd_env(good.stdout)["CONDA_PREFIX"]).is_dir()
    local = tmp_path / LIC
    key = channel.removeprefix(f"s3://{bucket}/") + f"/noarch/{LIC}"
    s3.client().download_file(bucket, key, str(local))
    TAMPER[how](local, tmp_path)
    s3.client().upload_file(str(local), bucket, key)
    fresh = env_with(tmp_path / "fresh-cache", **{k: v for k, v in s3.env().items() if k.startswith("S3_")})
    by_spec = run_cli(
        "env", "create", str(tmp_path / "e"), "--packages", "render-tool", "--channels", channel, env=fresh
    )
    _assert_refused(by_spec, f"{channel}/noarch/{LIC}", tmp_path / "e")
    lock = session / "condafarm-env.lock.txt"
    by_lockfile = run_cli("env", "create", str(tmp_path / "l"), "--lockfile", str(lock), env=fresh)
    _assert_refused(by_lockfile, f"{channel}/noarch/{LIC}", tmp_path / "l")
