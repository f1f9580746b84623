"""env session: a session folder that does not exist is a one-line usage error, before anything is created."""

from __future__ import annotations

from pathlib import Path

from support.cli import run_cli
from support.packages import make_package

from condafarm import index_channel, parse_channel


def test_a_missing_session_folder_is_a_usage_error_not_an_internal_one(tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    make_package(channel, "tool", "1.0")
    index_channel(parse_channel(str(channel)))
    missing = tmp_path / "no-such-session"
    result = run_cli(
        "env",
        "enter",
        "--packages",
        "tool",
        "--channels",
        str(channel),
        "--session-dir",
        str(missing),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 2, result.stderr
    assert "session folder" in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("conda-meta"))
