"""Paths and package values holding shell syntax are data, never code: the activation run by `env enter`, the
scripts it writes (sh, cmd.exe) and the `openjd_env:` lines it prints, with a cache folder, session folder,
channel folder, `env_vars.d` value and `activate.d` file name full of `$(...)`, backticks, quotes, `%`, `!`,
`;` and non-ASCII."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PureWindowsPath

import pytest
from support.environments import HOSTILE, VALUE, env_with, hostile_channel, nothing_ran, openjd_env

from condafarm.env.install.activation import cmd_quote, cmd_script, openjd_lines, sh_script
from condafarm.errors import CondafarmError


@pytest.mark.posix("file names with '\"'; sh")
def test_enter_with_hostile_paths_runs_nothing_and_activates(tmp_path: Path) -> None:
    base = tmp_path / HOSTILE
    channel = hostile_channel(base / "channel")
    work = tmp_path / "cwd"  # the commands would `touch` here
    work.mkdir()
    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent))
    assert exe
    for reuse, session in (("automatic", base / "session-a"), ("session", base / "session-b")):
        session.mkdir(parents=True)
        # channels are space-separated, so a folder with spaces is given as its file:// URL
        args = [exe, "env", "enter", "--packages", "render-tool", "--channels", channel.as_uri()]
        args += ["--cache-dir", str(base / "cache"), "--session-dir", str(session), "--reuse", reuse]
        result = subprocess.run(args, cwd=work, env=env_with(base / "unused"), capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        nothing_ran(work, tmp_path)
        env = openjd_env(result.stdout)
        prefix = Path(env["CONDA_PREFIX"])
        assert prefix.is_dir() and str(prefix).startswith(str(base))
        assert env["PATH"].split(os.pathsep)[0] == str(prefix / "bin")
        assert env["RENDER_LIC_FILE"] == f"{prefix}/etc/lic.dat"  # activate.d ran, with the prefix intact
        assert env["ODD_VALUE"] == VALUE  # env_vars.d, passed through as data
        assert env["FROM_ODD_NAME"] == f"ran from {prefix}"  # an activate.d script with an odd name ran
        for line in result.stdout.splitlines():
            assert line.isascii() or not line.startswith("openjd_"), line
        tool = subprocess.run(["render-tool"], env={**os.environ, "PATH": env["PATH"]}, capture_output=True, text=True)
        assert tool.stdout.strip() == "render-tool 1.0 build 0"
        assert (session / "condafarm-env.lock.txt").is_file()


def test_sh_script_quotes_every_path_as_one_word(tmp_path: Path) -> None:
    folder, python = tmp_path / HOSTILE, f"/opt/{HOSTILE}/python"
    scripts = [folder / "activate.d" / f"{HOSTILE}.sh", folder / "activate.d" / "plain.sh"]
    text = sh_script(python, scripts, folder)
    words = [shlex.split(line) for line in text.splitlines()]  # POSIX sh word splitting
    assert words == [
        [python, str(folder / "dump.py"), str(folder / "before.json")],
        [".", str(scripts[0])],
        [".", str(scripts[1])],
        [python, str(folder / "dump.py"), str(folder / "after.json")],
    ]


@pytest.mark.posix("file names with '\"'; sh")
def test_sh_script_runs_a_hostile_activate_script_path_for_real(tmp_path: Path) -> None:
    folder = tmp_path / f"tmp {HOSTILE}"
    folder.mkdir()
    (folder / "dump.py").write_text("import sys; open(sys.argv[1], 'w').write('ok')\n")
    script = tmp_path / f"{HOSTILE}.sh"
    script.write_text('export SEEN="$0"\n')
    (folder / "activate.sh").write_text(sh_script(sys.executable, [script], folder))
    work = tmp_path / "cwd"
    work.mkdir()
    ran = subprocess.run(["/bin/sh", str(folder / "activate.sh")], cwd=work, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert (folder / "after.json").read_text() == "ok"
    nothing_ran(work, tmp_path)


def test_cmd_script_doubles_percent_and_refuses_what_cmd_cannot_quote() -> None:
    python = r"C:\Users\O'Brien & Co 100% !x!\python.exe"
    script = PureWindowsPath(r"C:\env %PATH% é;$(x)`y`\etc\conda\activate.d\a&b.bat")
    assert cmd_script(python, [script]).split("\r\n") == [
        "@chcp 65001 > nul",
        r'@"C:\Users\O' + "'" + r'Brien & Co 100%% !x!\python.exe" "%~dp0dump.py" "%~dp0before.json"',
        r'@CALL "C:\env %%%%PATH%%%% é;$(x)`y`\etc\conda\activate.d\a&b.bat"',
        r'@"C:\Users\O' + "'" + r'Brien & Co 100%% !x!\python.exe" "%~dp0dump.py" "%~dp0after.json"',
        "",
    ]
    for text in ('C:\\a"b', "C:\\a\nb", "C:\\a\rb"):
        with pytest.raises(CondafarmError, match=r"cmd\.exe"):
            cmd_quote(text)
    with pytest.raises(CondafarmError, match=r"cmd\.exe"):
        cmd_quote("C:\\a^b.bat", call=True)
    assert cmd_quote("C:\\a^b.exe") == '"C:\\a^b.exe"'


def _read_by_openjd(lines: list[str]) -> tuple[dict[str, str], list[str], list[object]]:
    """What OpenJD's own stdout parser makes of `lines`: variables set, unset, and failures."""
    from openjd.sessions._action_filter import ActionMessageKind, ActionMonitoringFilter

    found: dict[str, str] = {}
    unset: list[str] = []
    failed: list[object] = []

    def callback(kind: ActionMessageKind, value: object, cancel: bool) -> None:
        if cancel:
            failed.append(value)
        elif kind == ActionMessageKind.ENV:
            found[value["name"]] = value["value"]  # type: ignore[index]
        elif kind == ActionMessageKind.UNSET_ENV:
            unset.append(str(value))

    parser = ActionMonitoringFilter(session_id="s", callback=callback)
    for line in lines:
        record = logging.LogRecord("openjd", logging.INFO, __file__, 0, line, None, None)
        record.session_id = "s"
        parser.filter(record)
    return found, unset, failed


def test_openjd_lines_read_back_exactly_and_stay_ascii(caplog: pytest.LogCaptureFixture) -> None:
    values = {
        "HOSTILE": f"/cache/{HOSTILE}/envs/1",
        "ODD_VALUE": VALUE,
        "UNICODE": "é € 日本",
        "LINES": "a\nb\r\nc",
        "TAB": "a\tb",
        "EDGES": " lead and trail ",
        "QUOTED": '"starts with a quote"',
        "PLAIN": "/usr/bin:/bin",
        "EMPTY": "",
    }
    lines = openjd_lines({**values, "GONE": None, "=C:": "C:\\x", "A-B": "1"})
    assert all(line.isascii() for line in lines)
    assert "openjd_env: PLAIN=/usr/bin:/bin" in lines and "openjd_env: EMPTY=" in lines
    found, unset, failed = _read_by_openjd(lines)
    assert failed == []
    assert found == values and unset == ["GONE"]
    assert "'=C:'" in caplog.text and "'A-B'" in caplog.text  # names OpenJD would fail the action on


@pytest.mark.posix("file names with '\"'; sh")
def test_pack_and_unpack_between_hostile_folders(tmp_path: Path) -> None:
    import tarfile

    from condafarm.env import activation_changes

    channel = hostile_channel(tmp_path / "channel")
    prefix, dest, work = tmp_path / f"from {HOSTILE}" / "env", tmp_path / f"to {HOSTILE}", tmp_path / "cwd"
    work.mkdir()
    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent))
    assert exe
    create = [exe, "env", "create", str(prefix), "--packages", "render-tool", "--channels", channel.as_uri()]
    create += ["--cache-dir", str(tmp_path / "cache")]
    pack = [exe, "env", "pack", str(prefix), str(tmp_path / "env.tar.gz")]
    for args in (create, pack):
        done = subprocess.run(args, cwd=work, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    with tarfile.open(tmp_path / "env.tar.gz") as tar:
        tar.extractall(dest, filter="tar")
    unpack = subprocess.run([sys.executable, str(dest / "condafarm-unpack.py")], cwd=work, capture_output=True)
    assert unpack.returncode == 0, unpack.stderr
    assert (dest / "etc" / "render-tool.cfg").read_text() == f"home={dest}\n"
    changes = activation_changes(dest)
    assert changes["CONDA_PREFIX"] == str(dest) and changes["RENDER_LIC_FILE"] == f"{dest}/etc/lic.dat"
    assert changes["ODD_VALUE"] == VALUE
    nothing_ran(work, tmp_path)
