from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli


@pytest.mark.slow
def test_demo_builds_indexes_installs_and_runs(tmp_path: Path) -> None:
    """The README's first command: everything on a local folder channel, proven by py-rattler."""
    result = run_cli("demo", str(tmp_path / "demo-channel"))
    assert result.returncode == 0, result.stderr
    assert "4 added" in result.stdout
    assert "ok, 4 packages" in result.stdout
    assert "hello from farm-hello 1.1 build 1: greetings, render farm (farm-greeting 2.0)" in result.stdout


def test_demo_refuses_to_replace_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = run_cli("demo", str(tmp_path))
    assert result.returncode == 2 and "not a demo channel" in result.stderr
    assert (tmp_path / "precious.txt").exists()
