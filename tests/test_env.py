"""Render environments from a folder channel, through the `condafarm env` CLI (py-rattler runs in that process,
which leaves via os._exit): creation, reuse, update, activation, errors, lockfiles, pack, cleanup."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from support.cli import run_cli
from support.environments import env_with, folder_channel, openjd_env, render_packages
from support.packages import make_package

from condafarm.env.install.activation import script_runs, windows_bash
from condafarm.env.request.lockfile import LockedPackage, explicit_lockfile, read_explicit_lockfile
from condafarm.env.request.spec import EnvSpec
from condafarm.errors import CondafarmError, UsageError


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    return folder_channel(tmp_path / "channel")


def enter(channel: Path | str, cache: Path, session: Path, *extra: str, packages: str = "render-tool"):  # type: ignore[no-untyped-def]
    session.mkdir(parents=True, exist_ok=True)
    args = ["env", "enter", "--packages", packages, "--channels", str(channel), "--session-dir", str(session)]
    return run_cli(*args, *extra, env=env_with(cache))


def generations(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "envs").glob("*/*") if p.name.isdigit())


@pytest.mark.posix("runs the package's sh script")
def test_enter_creates_then_reuses_and_prints_the_activation(channel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = enter(channel, cache, tmp_path / "s1")
    assert first.returncode == 0, first.stderr
    assert "(created)" in first.stdout
    env = openjd_env(first.stdout)
    prefix = Path(env["CONDA_PREFIX"])
    assert generations(cache) == [prefix]
    assert env["PATH"].split(os.pathsep)[0] == str(prefix / "bin")
    assert env["RENDER_LIC_SERVER"] == "5053@lic.studio"  # from env_vars.d
    assert env["RENDER_LIC_FILE"] == f"{prefix}/etc/lic.dat"  # from an activate.d script
    tool = subprocess.run(["render-tool"], env={**os.environ, "PATH": env["PATH"]}, capture_output=True, text=True)
    assert tool.stdout.strip() == "render-tool 1.0 build 0"
    # the exact resolved set is in the log and the session folder
    lock = (tmp_path / "s1" / "condafarm-env.lock.txt").read_text()
    _, locked = read_explicit_lockfile(lock)
    assert {p.filename for p in locked} == {"render-tool-1.0-h0_0.conda", "render-lic-2.0-h0_0.conda"}
    for package in locked:
        assert f"{package.url}  sha256:{package.sha256}" in first.stdout

    second = enter(channel, cache, tmp_path / "s2")
    assert second.returncode == 0, second.stderr
    assert "(reused)" in second.stdout and "no solve, no install" in second.stdout
    assert "solving" not in second.stdout and "installing" not in second.stdout
    assert openjd_env(second.stdout) == env
    assert generations(cache) == [prefix]


def test_update_after_minutes_solves_again_and_makes_a_new_generation(channel: Path, tmp_path: Path) -> None:
    from condafarm import index_channel, parse_channel

    cache = tmp_path / "cache"
    assert enter(channel, cache, tmp_path / "s").returncode == 0
    again = enter(channel, cache, tmp_path / "s", "--update-after-minutes", "0")
    assert "still what the channels give" in again.stdout, again.stdout + again.stderr
    render_packages(channel, build_number=1)
    index_channel(parse_channel(str(channel)))
    kept = enter(channel, cache, tmp_path / "s", "--update-after-minutes", "600")
    assert "(reused)" in kept.stdout  # solved moments ago: not due
    updated = enter(channel, cache, tmp_path / "s", "--update-after-minutes", "0")
    assert "(updated)" in updated.stdout, updated.stdout + updated.stderr
    first, second = generations(cache)
    assert Path(openjd_env(updated.stdout)["CONDA_PREFIX"]) == second
    assert (second / "conda-meta" / "render-tool-1.0-h0_1.json").exists()
    assert (first / "conda-meta" / "render-tool-1.0-h0_0.json").exists()  # running jobs keep theirs


def test_concurrent_enters_share_one_environment(channel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent))
    assert exe
    procs = [
        subprocess.Popen(
            [exe, "env", "enter", "--packages", "render-tool", "--channels", str(channel)],
            env=env_with(cache),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    prefixes = {openjd_env(out)["CONDA_PREFIX"] for out, _ in outputs}
    assert len(prefixes) == 1
    assert sorted("(created)" in out for out, _ in outputs) == [False, False, True]
    assert len(generations(cache)) == 1


@pytest.mark.posix("expects SIGKILL's -9; on Windows kill() ends only the condafarm.exe launcher")
@pytest.mark.slow
def test_killed_creation_is_never_reused(tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    # thousands of files make linking take long enough to kill the creator in the middle of it
    many = {f"share/frames/f{i:05d}.txt": f"frame {i}\n" for i in range(4000)}
    make_package(channel, "heavy", "1.0", files=many)
    from condafarm import index_channel, parse_channel

    index_channel(parse_channel(str(channel)))
    cache = tmp_path / "cache"
    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent))
    assert exe
    args = [exe, "env", "enter", "--packages", "heavy", "--channels", str(channel)]
    killed_mid_install = False
    for _ in range(5):  # the creator may finish before the kill lands; then start over
        shutil.rmtree(cache, ignore_errors=True)
        proc = subprocess.Popen(args, env=env_with(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            staging = list((cache / "envs").glob("*/.creating-*/conda-meta")) if (cache / "envs").exists() else []
            if staging:
                proc.kill()
                break
            time.sleep(0.002)
        proc.wait(30)
        if proc.returncode == -9 and not generations(cache):
            killed_mid_install = True
            break
    assert killed_mid_install, "could not kill the creation while it was installing"
    assert list((cache / "envs").glob("*/.creating-*"))  # the half-made environment is there...
    after = run_cli(*args[1:], env=env_with(cache))
    assert after.returncode == 0, after.stderr
    assert "(created)" in after.stdout  # ...but was not reused
    assert not list((cache / "envs").glob("*/.creating-*"))
    prefix = Path(openjd_env(after.stdout)["CONDA_PREFIX"])
    assert len(list((prefix / "share" / "frames").iterdir())) == 4000


def test_errors_are_one_readable_line_with_exit_codes(channel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    unsolvable = enter(channel, cache, tmp_path / "s", packages="render-tool>=9")
    assert unsolvable.returncode == 9
    assert unsolvable.stderr.count("\n") == 1
    assert "render-tool>=9" in unsolvable.stderr and str(channel) in unsolvable.stderr
    missing_dep = enter(channel, cache, tmp_path / "s", packages="no-such-package")
    assert missing_dep.returncode == 9 and "no-such-package" in missing_dep.stderr
    typo = enter(f"{channel} {tmp_path / 'chanel'}", cache, tmp_path / "s")
    assert typo.returncode == 3 and typo.stderr.count("\n") == 1
    assert f"channel {tmp_path / 'chanel'} does not exist" in typo.stderr and "index" not in typo.stderr
    (tmp_path / "unindexed").mkdir()  # a folder that is no channel yet: indexing it is the answer
    missing_channel = enter(f"{channel} {tmp_path / 'unindexed'}", cache, tmp_path / "s")
    assert missing_channel.returncode == 3
    assert f"{(tmp_path / 'unindexed').as_uri()} has no noarch/repodata.json" in missing_channel.stderr
    bad_spec = enter(channel, cache, tmp_path / "s", packages="render-tool=[1")
    assert bad_spec.returncode == 2 and "'render-tool=[1' is not valid" in bad_spec.stderr
    bad_build = enter(channel, cache, tmp_path / "s", packages="render-tool=1.0=h=extra")
    assert bad_build.returncode == 2 and "'render-tool=1.0=h=extra' is not valid" in bad_build.stderr
    assert not generations(cache)


def test_lockfile_recreates_the_exact_set_after_a_newer_build(channel: Path, tmp_path: Path) -> None:
    from condafarm import index_channel, parse_channel

    cache = str(tmp_path / "cache")
    first = run_cli(
        "env",
        "create",
        str(tmp_path / "a"),
        "--packages",
        "render-tool",
        "--channels",
        str(channel),
        "--cache-dir",
        cache,
    )
    assert first.returncode == 0, first.stderr
    lock, yml = tmp_path / "a.lock.txt", tmp_path / "a.yml"
    exported = run_cli("env", "export", str(tmp_path / "a"), "--lockfile", str(lock), "--yaml", str(yml))
    assert exported.returncode == 0, exported.stderr
    import yaml

    pinned = yaml.safe_load(yml.read_text())
    assert pinned["dependencies"] == ["render-lic=2.0=h0_0", "render-tool=1.0=h0_0"]
    assert pinned["channels"] == [str(channel)]

    render_packages(channel, build_number=1)  # a newer build is published
    index_channel(parse_channel(str(channel)))
    fresh = run_cli(
        "env",
        "create",
        str(tmp_path / "b"),
        "--packages",
        "render-tool",
        "--channels",
        str(channel),
        "--cache-dir",
        cache,
    )
    assert "render-tool-1.0-h0_1.conda" in fresh.stdout  # a solve now picks the new build...
    locked = run_cli("env", "create", str(tmp_path / "c"), "--lockfile", str(lock), "--cache-dir", cache)
    assert locked.returncode == 0, locked.stderr
    assert (tmp_path / "c" / "conda-meta" / "render-tool-1.0-h0_0.json").exists()  # ...the lockfile does not
    assert not (tmp_path / "c" / "conda-meta" / "render-tool-1.0-h0_1.json").exists()
    again = run_cli("env", "export", str(tmp_path / "c"), "--lockfile", str(tmp_path / "c.lock.txt"))
    assert again.returncode == 0
    assert (
        read_explicit_lockfile((tmp_path / "c.lock.txt").read_text())[1] == read_explicit_lockfile(lock.read_text())[1]
    )


def test_lockfile_refuses_a_replaced_package_file(channel: Path, tmp_path: Path) -> None:
    lock = tmp_path / "env.lock.txt"
    url = (channel / "noarch" / "render-lic-2.0-h0_0.conda").as_uri()
    lock.write_text(explicit_lockfile([LockedPackage(url, "0" * 64)], "noarch"))
    result = run_cli("env", "create", str(tmp_path / "x"), "--lockfile", str(lock), "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 9 and "changed since the lockfile was written" in result.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("escape", ["/../", "/%2e%2E/", "\\..\\", "/./../"])
def test_a_lockfile_url_may_not_leave_the_channel_it_names(channel: Path, tmp_path: Path, escape: str) -> None:
    """`CHANNEL/../elsewhere/noarch/FILE` names a file outside CHANNEL once a URL parser resolves it."""
    other = folder_channel(tmp_path / "other")
    package = other / "noarch" / "render-lic-2.0-h0_0.conda"
    url = f"{channel.as_uri()}{escape}other/noarch/{package.name}"
    lock = tmp_path / "env.lock.txt"
    lock.write_text(explicit_lockfile([LockedPackage(url, hashlib.sha256(package.read_bytes()).hexdigest())], "noarch"))
    result = run_cli("env", "create", str(tmp_path / "x"), "--lockfile", str(lock), "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "is not CHANNEL/SUBDIR/FILENAME" in result.stderr
    assert not (tmp_path / "x").exists()


def test_create_refuses_an_existing_prefix_unless_forced(channel: Path, tmp_path: Path) -> None:
    args = ["env", "create", str(tmp_path / "e"), "--packages", "render-lic", "--channels", str(channel)]
    args += ["--cache-dir", str(tmp_path / "c")]
    assert run_cli(*args).returncode == 0
    refused = run_cli(*args)
    assert refused.returncode == 5 and "--force" in refused.stderr
    forced = run_cli(*args[:3], "--packages", "render-tool", *args[5:], "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "e" / "bin" / "render-tool").exists()
    assert not list(tmp_path.glob(".creating-*"))


def test_create_never_removes_the_unfinished_creation_of_a_sibling_prefix(channel: Path, tmp_path: Path) -> None:
    from condafarm.env.install.hostlock import HostLock

    # `env create shot-010-fx` is installing next to where `env create shot-010` is about to start
    sibling = tmp_path / ".creating-shot-010-fx-0123abcd"
    (sibling / "conda-meta").mkdir(parents=True)
    with HostLock(tmp_path / ".shot-010-fx.condafarm-lock"):
        args = ["env", "create", str(tmp_path / "shot-010"), "--packages", "render-lic", "--channels", str(channel)]
        result = run_cli(*args, "--cache-dir", str(tmp_path / "c"))
        assert result.returncode == 0, result.stderr
        assert (sibling / "conda-meta").is_dir()
    left = tmp_path / ".creating-shot-010-89abcdef"  # what a killed `env create shot-010` leaves is still removed
    left.mkdir()
    forced = run_cli(*args, "--cache-dir", str(tmp_path / "c"), "--force")
    assert forced.returncode == 0, forced.stderr
    assert not left.exists() and (sibling / "conda-meta").is_dir()


@pytest.mark.posix("runs the package's sh script")
def test_pack_makes_a_relocatable_archive(channel: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "original-location" / "env"
    created = run_cli(
        "env",
        "create",
        str(prefix),
        "--packages",
        "render-tool",
        "--channels",
        str(channel),
        "--cache-dir",
        str(tmp_path / "c"),
    )
    assert created.returncode == 0, created.stderr
    assert (prefix / "etc" / "render-tool.cfg").read_text() == f"home={prefix}\n"
    archive = tmp_path / "env.tar.gz"
    packed = run_cli("env", "pack", str(prefix), str(archive))
    assert packed.returncode == 0, packed.stderr
    assert "1 file(s) embed the prefix" in packed.stdout
    shutil.rmtree(prefix)  # the new host has neither the old prefix nor the channel
    shutil.rmtree(channel)
    dest = tmp_path / "elsewhere"
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="tar")
    unpack = subprocess.run([sys.executable, str(dest / "condafarm-unpack.py")], capture_output=True, text=True)
    assert unpack.returncode == 0, unpack.stderr
    assert (dest / "etc" / "render-tool.cfg").read_text() == f"home={dest}\n"
    tool = subprocess.run([str(dest / "bin" / "render-tool")], capture_output=True, text=True, check=True)
    assert tool.stdout.strip() == "render-tool 1.0 build 0"
    relocated = json.loads((dest / ".condafarm" / "relocate.json").read_text())
    assert relocated["prefix"] == str(dest)
    assert relocated["request"] == ["render-tool"] and relocated["channels"] == [str(channel)]


def test_exit_removes_session_and_unused_cached_environments(channel: Path, tmp_path: Path) -> None:
    cache, session = tmp_path / "cache", tmp_path / "session"
    assert enter(channel, cache, session).returncode == 0
    own = enter(channel, cache, session, "--reuse", "session", packages="render-lic")
    assert own.returncode == 0, own.stderr
    assert openjd_env(own.stdout)["CONDA_PREFIX"] == str(session / "condafarm-env")
    (old,) = generations(cache)
    kept = run_cli("env", "exit", "--session-dir", str(session), "--cleanup-after-hours", "1", env=env_with(cache))
    assert kept.returncode == 0 and old.exists() and not (session / "condafarm-env").exists()
    two_hours_ago = time.time() - 7200
    os.utime(old.parent / f"{old.name}.used", (two_hours_ago, two_hours_ago))
    removed = run_cli("env", "exit", "--cleanup-after-hours", "1", env=env_with(cache))
    assert removed.returncode == 0 and not old.exists()
    assert "removed 1 environment(s)" in removed.stdout


def test_empty_packages_is_no_environment(tmp_path: Path) -> None:
    result = run_cli("env", "enter", "--packages", "", "--channels", "s3://unused-bucket/x", env=env_with(tmp_path))
    assert result.returncode == 0 and "openjd_env" not in result.stdout


def test_request_key_ignores_package_order_but_not_channel_order() -> None:
    a = EnvSpec(("blender=4.5", "mtoa"), ("s3://b/c", "conda-forge"), "strict", "linux-64")
    assert a.key == EnvSpec(("mtoa", "blender=4.5"), a.channels, "strict", "linux-64").key
    assert a.key != EnvSpec(a.packages, ("conda-forge", "s3://b/c"), "strict", "linux-64").key
    assert a.key != EnvSpec(a.packages, a.channels, "strict", "win-64").key


def test_lockfile_lines_without_a_sha256_are_rejected() -> None:
    with pytest.raises(UsageError, match="line 2"):
        read_explicit_lockfile("@EXPLICIT\nhttps://x/noarch/a-1-h0.conda#" + "f" * 32 + "\n")
    platform, packages = read_explicit_lockfile(
        "# platform: linux-64\n@EXPLICIT\nhttps://x/noarch/a-1-h0.conda#" + "a" * 64
    )
    assert platform == "linux-64" and packages[0].name_version_build == ("a", "1", "h0")


def test_a_lockfile_line_whose_filename_is_no_package_name_is_a_usage_error(channel: Path, tmp_path: Path) -> None:
    lock = tmp_path / "bad.lock.txt"
    lock.write_text("@EXPLICIT\n" + f"{channel.as_uri()}/noarch/nodashes.conda#sha256:" + "a" * 64 + "\n")
    result = run_cli("env", "create", str(tmp_path / "env"), "--lockfile", str(lock), env=env_with(tmp_path / "c"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "line 2: expected a package URL (CHANNEL/SUBDIR/NAME-VERSION-BUILD.conda)" in result.stderr
    assert "unpack" not in result.stderr
    with pytest.raises(UsageError, match="expected a package URL"):
        read_explicit_lockfile("@EXPLICIT\na-1-h0.conda#" + "a" * 64)


def test_a_space_inside_a_spec_says_how_to_write_it_and_that_works(channel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    split = enter(channel, cache, tmp_path / "s", packages="render-tool >=1")
    assert split.returncode == 2 and split.stderr.count("\n") == 1
    assert "'render-tool >=1' was read as two; write 'render-tool>=1' (no space inside a spec)" in split.stderr
    joined = enter(channel, cache, tmp_path / "s", packages="render-tool>=1")
    assert joined.returncode == 0, joined.stderr


def test_samples_named_environments_recreate_and_clean(channel: Path, tmp_path: Path) -> None:
    cache, session = tmp_path / "cache", tmp_path / "s"

    def prefix(*extra: str) -> tuple[Path, str]:
        result = enter(channel, cache, session, *extra)
        assert result.returncode == 0, result.stderr
        return Path(openjd_env(result.stdout)["CONDA_PREFIX"]), result.stdout

    automatic, _ = prefix()
    assert prefix("--name", "AUTOMATIC")[0] == automatic  # the samples' default: named after the request
    named, out = prefix("--name", "shot-010")
    assert named != automatic and "(created)" in out
    reused, out = prefix("--name", "shot-010")
    assert reused == named and "(reused)" in out
    assert prefix("--name", "")[0] == session / "condafarm-env"  # empty: this session only
    recreated, out = prefix("--name", "shot-010", "--recreate", "REMOVE_AND_CREATE")
    assert "(updated)" in out and recreated == named.parent / "2" and named.exists()  # running jobs keep theirs
    kept, out = prefix("--name", "shot-010", "--recreate", "ACTIVATE")
    assert kept == recreated and "(reused)" in out
    cleaned, out = prefix("--clean", "True")
    assert f"emptied the cache {cache / 'pkgs'}" in out and cleaned == automatic and not (cache / "pkgs").exists()
    assert prefix("--clean", "False", "--recreate")[1].count("emptied") == 0
    bad = enter(channel, cache, session, "--clean", "maybe")
    assert bad.returncode == 2 and "'maybe' is not one of True|False" in bad.stderr


def test_repeated_options_take_the_last_one_set(channel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    kept = enter(channel, cache, tmp_path / "s", "--priority", "Strict", "--priority", "")
    assert kept.returncode == 0 and ", strict)" in kept.stdout, kept.stdout + kept.stderr
    disabled = enter(channel, tmp_path / "c2", tmp_path / "s", "--priority", "strict", "--priority", "Disabled")
    assert disabled.returncode == 0 and ", disabled)" in disabled.stdout, disabled.stdout + disabled.stderr
    due = enter(channel, cache, tmp_path / "s", "--update-after-minutes", "0", "--update-after-minutes", "-1")
    assert "still what the channels give" in due.stdout, due.stdout + due.stderr
    unset = enter(channel, cache, tmp_path / "s", "--update-after-minutes", "0", "--update-after-minutes", "600")
    assert "(reused)" in unset.stdout
    wrong = enter(channel, cache, tmp_path / "s", "--priority", "strict", "--priority", "sometimes")
    assert wrong.returncode == 2 and "'sometimes' is not one of strict, flexible, disabled" in wrong.stderr


def _activate_d(prefix: Path, *names: str) -> list[Path]:
    folder = prefix / "etc" / "conda" / "activate.d"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text('export RENDER_LIC_FILE="$CONDA_PREFIX/etc/lic.dat"\n')
    return [folder / name for name in names]


def test_windows_runs_bat_scripts_then_sh_scripts_that_have_no_bat(tmp_path: Path) -> None:
    a_bat, a_sh, b_sh, c_bat = _activate_d(tmp_path, "a.bat", "a.sh", "b.sh", "c.bat")
    assert script_runs(tmp_path, windows=False) == [("sh", [a_sh, b_sh])]
    assert script_runs(tmp_path, windows=True) == [("cmd", [a_bat, c_bat]), ("sh", [b_sh])]
    assert script_runs(tmp_path / "none", windows=True) == []


def test_windows_bash_is_git_for_windows_never_wsl(tmp_path: Path) -> None:
    def touch(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        path.chmod(0o755)
        return path

    git_cmd = touch(tmp_path / "Git" / "cmd" / "git").parent
    bash = touch(tmp_path / "Git" / "bin" / "bash.exe")
    wsl = touch(tmp_path / "Windows" / "System32" / "bash.exe").parent
    alias = touch(tmp_path / "AppData" / "Local" / "Microsoft" / "WindowsApps" / "bash.exe").parent
    nowhere = str(tmp_path / "nowhere")
    assert windows_bash({"Path": str(git_cmd), "ProgramFiles": nowhere}) == str(bash)
    assert windows_bash({"PATH": os.pathsep.join([str(wsl), str(alias)]), "PROGRAMFILES": nowhere}) is None
    assert windows_bash({"PATH": "", "ProgramFiles": str(tmp_path)}) == str(tmp_path / "Git" / "bin" / "bash.exe")
    msys = touch(tmp_path / "msys64" / "usr" / "bin" / "bash.exe")
    assert windows_bash({"PATH": os.pathsep.join([str(wsl), str(msys.parent)]), "PROGRAMFILES": nowhere}) == str(msys)


def test_sh_only_scripts_on_windows_run_in_bash_or_say_what_to_install(tmp_path: Path) -> None:
    from condafarm.env.install.activation import _run_scripts

    prefix = tmp_path / "env"
    scripts = _activate_d(prefix, "render-lic.sh")
    git = tmp_path / "Git"
    (git / "cmd").mkdir(parents=True)
    (git / "cmd" / "git").write_text("")
    (git / "cmd" / "git").chmod(0o755)
    (git / "bin").mkdir()
    (git / "bin" / "bash.exe").symlink_to(shutil.which("bash") or "/bin/sh")  # stands in for Git's bash.exe
    env = {**os.environ, "PATH": f"{git / 'cmd'}{os.pathsep}{os.environ['PATH']}", "CONDA_PREFIX": str(prefix)}
    before, after = _run_scripts(prefix, "sh", scripts, env, windows=True)
    assert "RENDER_LIC_FILE" not in before and after["RENDER_LIC_FILE"] == f"{prefix}/etc/lic.dat"
    with pytest.raises(CondafarmError, match=r"render-lic\.sh have no \.bat version; install Git for Windows"):
        _run_scripts(prefix, "sh", scripts, {"PATH": "", "PROGRAMFILES": str(tmp_path / "none")}, windows=True)


@pytest.mark.parametrize("job_id", ["j" * 300, "../outside", "job/1", ".hidden"])
def test_a_job_id_that_cannot_name_a_record_folder_is_a_usage_error(job_id: str, channel: Path, tmp_path: Path) -> None:
    records = tmp_path / "records"
    result = enter(channel, tmp_path / "cache", tmp_path / "s", "--job-records", str(records), "--job-id", job_id)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "is not one" in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "outside").exists() and not records.exists()
