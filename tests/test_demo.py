from __future__ import annotations

from pathlib import Path

import pytest
from support import ROOT
from support.cli import run_cli

README = ROOT / "README.md"
CHECKOUT = "/home/me/condafarm"


@pytest.mark.slow
def test_demo_builds_the_examples_indexes_installs_and_runs(tmp_path: Path) -> None:
    """The README's first command: example recipes built into a folder channel, proven by py-rattler."""
    folder = tmp_path / "demo-channel"
    result = run_cli("demo", str(folder))
    assert result.returncode == 0, result.stderr
    assert f"published {folder.as_uri()}/noarch/farm-hello-1.0-" in result.stdout
    assert "(noarch, build number 2)" in result.stdout
    assert "ok, 4 packages" in result.stdout
    assert "hello from farm-hello 1.0" in result.stdout
    assert "farm-greet 1.0: greetings, render farm" in result.stdout
    installed = result.stdout.split("installs:\n", 1)[1].split("$ ", 1)[0].split()
    assert "h4616a5c_2" in " ".join(installed) and "farm-data" in installed
    # README.md shows this output, from a checkout in /home/me/condafarm with the channel in ./demo-channel
    shown = README.read_text().split("What command 1 prints", 1)[1].split("```\n", 2)[1]
    real = result.stdout.replace(str(folder), f"{CHECKOUT}/demo-channel").replace(str(ROOT), CHECKOUT)
    real = real.replace(folder.as_uri(), f"file://{CHECKOUT}/demo-channel")
    assert shown == real


def test_demo_refuses_to_replace_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = run_cli("demo", str(tmp_path))
    assert result.returncode == 2 and "not a demo channel" in result.stderr
    assert (tmp_path / "precious.txt").exists()
