"""`env pack --installer`: one self-extracting sh script that installs an environment relocated, with no Python,
judged by running it under a path with spaces and running what it installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.cli import run_cli
from support.environments import folder_channel
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

    damaged = tmp_path / "damaged.sh"
    damaged.write_bytes(installer.read_bytes()[: installer.stat().st_size // 2])
    refused = install(damaged, tmp_path / "half")
    assert refused.returncode == 1 and "is damaged" in refused.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("half")]  # nothing half-installed is left

    empty = tmp_path / "empty"
    empty.mkdir()
    assert install(installer, empty).returncode == 0
    assert (empty / "bin" / "render-tool").exists()
    assert not [p for p in tmp_path.iterdir() if "condafarm-installing" in p.name]


def test_installer_never_unpacks_through_a_link_planted_where_it_stages(
    packed: tuple[Path, Path], tmp_path: Path
) -> None:
    installer, _ = packed
    dest = tmp_path / "shared" / "env"
    dest.parent.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # another user of a shared folder links the staging name of this very process (exec keeps the pid) elsewhere
    plant = 'ln -s "$2" "$3.condafarm-installing-$$" && exec /bin/sh "$1" "$3"'
    args = ["/bin/sh", "-c", plant, "sh", str(installer), str(elsewhere), str(dest)]
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1 and "already there" in result.stderr, result.stdout + result.stderr
    assert list(elsewhere.iterdir()) == [] and not dest.exists()


def test_windows_installer_is_a_bat_whose_table_relocates_the_zip_it_carries(tmp_path: Path) -> None:
    """No Windows host runs it here: the .bat's parts are checked as data, and its relocation table is applied
    the way its PowerShell part applies it."""
    import base64
    import hashlib
    import zipfile

    from support.packages import BINARY_PLACEHOLDER

    channel = tmp_path / "chan %OS% 100%"
    files = {"etc/render.cfg": "home={prefix}\n"}
    package = make_package(
        channel, "render-win", "1.0", subdir="win-64", files=files, binary_files={"lib/r.dll": BINARY}
    )
    shutil.rmtree(channel / ".staging")
    index_channel(parse_channel(str(channel)))
    lock = tmp_path / "win.lock.txt"
    sha256 = hashlib.sha256(package.read_bytes()).hexdigest()
    lock.write_text(f"# platform: win-64\n@EXPLICIT\n{package.as_uri()}#sha256:{sha256}\n")
    prefix = tmp_path / "a-long-enough-original-location" / "env"
    created = run_cli("env", "create", str(prefix), "--lockfile", str(lock), "--cache-dir", str(tmp_path / "c"))
    assert created.returncode == 0, created.stderr
    installer = tmp_path / "render env.bat"
    packed = run_cli("env", "pack", str(prefix), str(installer), "--installer")
    assert packed.returncode == 0, packed.stderr

    data = installer.read_bytes()
    length = int(re.search(rb"New-Object byte\[\] (\d+)", data).group(1))  # type: ignore[union-attr]
    header, payload = data[:length].decode(), data[length:]
    assert payload.startswith(b"PK\x03\x04") and "@" + "OLD_LENGTH@" not in header
    assert "\r\n" in header and "\n" not in header.replace("\r\n", "")  # cmd.exe wants CRLF
    origin = next(line for line in header.split("\r\n") if line.startswith("rem channels: "))
    assert "%%25OS%%25" in origin and "%" not in origin.replace("%%", "")  # cmd.exe expands %...% in comments
    batch, _, powershell = header.partition("#condafarm-powershell#")
    assert batch.index("exit /b") < batch.index(":: relocate ")  # cmd.exe never reaches the table
    assert "$env:CONDAFARM_PREFIX" in powershell and "%~f1" in batch

    new = b"C:\\Users\\artist\\render env"
    archive = zipfile.ZipFile(installer)  # the offsets are the whole file's, as .NET's ZipFile reads them
    installed = {name: archive.read(name) for name in archive.namelist()}
    old_length = len(str(prefix).encode())
    for line in (line for line in header.split("\r\n") if line.startswith(":: relocate ")):
        kind, path, *spans = line.split(" ")[2:]
        relative = base64.b64decode(path).decode()
        content, result, position = installed[relative], b"", 0
        for span in spans:
            start, end, _ = (int(part) for part in span.split(":"))
            result += content[position:start] + new
            if kind == "binary":
                result += content[start + old_length : end] + b"\0" * (old_length - len(new))
            position = end
        installed[relative] = result + content[position:]
    assert installed["etc/render.cfg"] == b"home=" + new + b"\n"
    padding = b"\0" * (len(BINARY_PLACEHOLDER) - len(new))
    assert installed["lib/r.dll"] == b"\x7fELF\x00" + new + b"/lib/plugins" + padding + b"\x00\xc3\xbf tail\x00"
