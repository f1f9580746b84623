"""Side files anyone who can write the channel can write: a bad one is treated as absent, with a warning naming
it, and the command does its work (exit 0) instead of ending in an internal error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support.cli import run_cli
from support.packages import make_package

from condafarm import parse_channel, publish
from condafarm.channel.commit.state import STATE_KEY
from condafarm.channel.curate.prune import LEDGER_KEY
from condafarm.side_file import MAX_BYTES
from condafarm.storage.conditions import RECORD_KEY

BAD = {
    "not-json": b"{",
    "deeply-nested": b"[" * 100000 + b"]" * 100000,
    "nested-within-the-parser": b'{"x": ' + b"[" * 300 + b"]" * 300 + b"}",
    "a-number": b"7",
    "wrong-types": json.dumps(
        {
            "pruned": {"tool-1.0-h0_0.conda": {"state": "yanked", "at": "yesterday", "size": "big"}},
            "files": {"x.conda": {"size": 1e400, "etag": 1, "sha256": 2}},
            "orphan_shards": {"abc": "soon"},
            "filename": ["../../x.conda"],
            "record": "r",
            "expires": "never",
            "ignored_conditions": 7,
        }
    ).encode(),
}


def _channel(tmp_path: Path) -> Path:
    root = tmp_path / "channel"
    publish(parse_channel(str(root)), [make_package(tmp_path / "out", "tool", "1.0", b) for b in range(2)])
    return root


@pytest.mark.parametrize("content", list(BAD))
@pytest.mark.parametrize(
    ("side_file", "command"),
    [
        (f"noarch/{LEDGER_KEY}", ["prune", "{root}", "--keep", "1", "--yes"]),
        (f"noarch/{STATE_KEY}", ["index", "{root}"]),
        (RECORD_KEY, ["check", "{root}"]),
        (
            "noarch/.condafarm/publishing/{stamp}-0123456789abcdef01234567.ready",
            ["publish", "{late}", "--to", "{root}"],
        ),
    ],
    ids=["prune-ledger", "index-state", "store-record", "ready-intent"],
)
def test_a_bad_side_file_is_absent_with_a_warning_naming_it(
    tmp_path: Path, side_file: str, command: list[str], content: str
) -> None:
    root = _channel(tmp_path)
    key = side_file.format(stamp=int(time.time() * 1000))
    path = root.joinpath(*key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(BAD[content])
    late = make_package(tmp_path / "late", "late", "1.0")
    args = [a.format(root=root, late=late) for a in command]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr
    assert key in result.stderr.replace("\\", "/"), result.stderr


@pytest.mark.parametrize(
    ("side_file", "command"),
    [
        (RECORD_KEY, ["check", "{root}"]),
        (
            "noarch/.condafarm/publishing/{stamp}-0123456789abcdef01234567.ready",
            ["publish", "{late}", "--to", "{root}"],
        ),
        ("noarch/.condafarm/provenance/tool-1.0-h0_1.conda.json", ["info", "{root}", "tool"]),
    ],
    ids=["store-record", "ready-intent", "provenance"],
)
def test_an_oversized_side_file_is_absent_after_reading_its_first_mebibyte(
    tmp_path: Path, side_file: str, command: list[str]
) -> None:
    """Whitespace after valid JSON is still valid JSON: only the size tells this file from a good one."""
    root = _channel(tmp_path)
    key = side_file.format(stamp=int(time.time() * 1000))
    path = root.joinpath(*key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"{}" + b" " * (2 << 20))
    late = make_package(tmp_path / "late", "late", "1.0")
    result = run_cli(*[a.format(root=root, late=late) for a in command])
    assert result.returncode == 0, result.stderr
    assert key in result.stderr.replace("\\", "/") and f"larger than {MAX_BYTES:,} bytes" in result.stderr
