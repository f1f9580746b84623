"""`env pack --installer`: one self-extracting sh script that installs an environment relocated, with no Python,
judged by running it under a path with spaces and running what it installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from env_support import folder_channel
from support.cli import run_cli
from support.packages import BINARY_PLACEHOLDER, make_package

from condafarm import index_channel, parse_channel

pytestmark = pytest.mark.posix("the installer is a POSIX sh script")

#: A binary file embedding the prefix in a C string, with bytes on both sides that must survive.
BINARY = "\x7fELF\x00{prefix}/lib/plugins\x00\xff tail\x00"


@pytest.fixture
def packed(tmp_path: Path) -> tuple[Path, Path]:
    """An environment (a command, a text file and a binary file that embed the prefix) packed as an installer,
    then removed together with its channel, as on a host that never saw either."""
    channel = folder_channel(tmp_path / "channel")
    make_package(channel, "render-bin", "1.0", binary_files={"lib/render.bin": BINARY})
    shutil.rmtree(channel / ".staging")
    index_channel(parse_channel(str(channel)))
    prefix = tmp_path / "original-location-long-enough-for-the-new-one" / "env"
    args = ["--packages", "render-tool render-bin", "--channels", str(channel), "--cache-dir", str(tmp_path / "c")]
    created = run_cli("env", "create", str(prefix), *args)
    assert created.returncode == 0, created.stderr
    installer = tmp_path / "render env.sh"
    result = run_cli("env", "pack", str(prefix), str(installer), "--installer")
    assert result.returncode == 0, result.stderr
    assert "2 file(s) embed the prefix" in result.stdout
    shutil.rmtree(prefix)
    shutil.rmtree(channel)
    return installer, prefix


def install(installer: Path, dest: Path | str) -> subprocess.CompletedProcess[str]:
    """Run the installer as a user would, with a PATH of only the OS's folders (no Python needed)."""
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    return subprocess.run(["/bin/sh", str(installer), str(dest)], capture_output=True, text=True, env=env, timeout=60)


def test_installer_installs_under_a_path_with_spaces_and_relocates_text_and_binary_files(
    packed: tuple[Path, Path],
) -> None:
    installer, old = packed
    head = installer.read_bytes()[:4000].decode(errors="replace")
    assert "# request: render-tool render-bin" in head and "# channels: " in head
    dest = installer.parent / "new place é $(x)" / "env"
    result = install(installer, dest)
    assert result.returncode == 0, result.stderr
    assert f"installed the environment at {dest}" in result.stdout

    tool = subprocess.run([str(dest / "bin" / "render-tool")], capture_output=True, text=True, check=True)
    assert tool.stdout.strip() == "render-tool 1.0 build 0"
    assert (dest / "etc" / "render-tool.cfg").read_text() == f"home={dest}\n"
    new, before = str(dest).encode(), str(old).encode()
    padding = b"\0" * (len(BINARY_PLACEHOLDER) - len(new))  # the string keeps the placeholder's length
    assert (dest / "lib" / "render.bin").read_bytes() == (
        b"\x7fELF\x00" + new + b"/lib/plugins" + padding + b"\x00\xc3\xbf tail\x00"
    )
    assert os.access(dest / "bin" / "render-tool", os.X_OK)
    assert not list(dest.rglob("*.condafarm-relocating"))
    installed = [p for p in dest.rglob("*") if p.is_file() and "conda-meta" not in p.parts]
    assert not [p for p in installed if before in p.read_bytes()]


def test_installer_refuses_a_taken_folder_and_a_prefix_too_long_for_binary_files(
    packed: tuple[Path, Path], tmp_path: Path
) -> None:
    installer, old = packed
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    refused = install(installer, taken)
    assert refused.returncode == 5 and "already exists" in refused.stderr
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]

    too_long = tmp_path / ("x" * (len(str(old)) - len(str(tmp_path))))
    refused = install(installer, too_long)
    assert refused.returncode == 2 and f"at most {len(str(old))} bytes" in refused.stderr
    assert not too_long.exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert install(installer, empty).returncode == 0
    assert (empty / "bin" / "render-tool").exists()
