"""env session: `enter --session-dir` makes a missing session folder (as docs/environments.md's example needs),
a file in its place is a one-line usage error, and `exit` on a folder that does not exist says so."""

from __future__ import annotations

from pathlib import Path

from support.cli import run_cli
from support.packages import make_package

from condafarm import index_channel, parse_channel


def _enter(tmp_path: Path, session: Path) -> list[str]:
    channel = tmp_path / "channel"
    make_package(channel, "tool", "1.0")
    index_channel(parse_channel(str(channel)))
    return ["env", "enter", "--packages", "tool", "--channels", str(channel), "--session-dir", str(session)]


def test_enter_makes_a_missing_session_folder_and_exit_removes_its_environment(tmp_path: Path) -> None:
    session = tmp_path / "session"  # as in docs/environments.md: ./session, not made beforehand
    cache = ["--cache-dir", str(tmp_path / "cache")]
    entered = run_cli(*_enter(tmp_path, session), "--reuse", "session", *cache)
    assert entered.returncode == 0, entered.stderr
    assert (session / "condafarm-env.lock.txt").is_file() and (session / "condafarm-env").is_dir()
    left = run_cli("env", "exit", "--session-dir", str(session), *cache)
    assert left.returncode == 0, left.stderr
    assert not (session / "condafarm-env").exists()


def test_a_file_in_place_of_the_session_folder_is_a_usage_error(tmp_path: Path) -> None:
    session = tmp_path / "session"
    session.write_text("not a folder")
    result = run_cli(*_enter(tmp_path, session), "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 2, result.stderr
    assert "is a file" in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("conda-meta"))


def test_exit_on_a_missing_session_folder_says_so(tmp_path: Path) -> None:
    result = run_cli("env", "exit", "--session-dir", str(tmp_path / "sesion"), "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "removed 0" not in result.stdout
