"""`condafarm demo`: the engine end to end on a local folder channel, no cloud account needed.

Assembles a few small real packages (py-rattler-build), indexes the folder as a channel, lists and checks it,
then has py-rattler, an independent client, solve and install from it and runs the installed command.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from .channel import parse_channel
from .check import check_channel
from .errors import UsageError
from .index import index_channel
from .listing import list_packages

#: (name, version, build number, dependencies): farm-hello 1.1 build 1 is what a solver must pick.
EXAMPLES = [
    ("farm-hello", "1.0", 0, ["farm-greeting >=2"]),
    ("farm-hello", "1.1", 0, ["farm-greeting >=2"]),
    ("farm-hello", "1.1", 1, ["farm-greeting >=2"]),
    ("farm-greeting", "2.0", 0, []),
]


def _assemble(staging: Path, out: Path, name: str, version: str, number: int, depends: list[str]) -> None:
    from rattler_build import assemble_package

    files = staging / f"{name}-{version}-{number}"
    (files / "bin").mkdir(parents=True)
    (files / "Scripts").mkdir()
    if name == "farm-hello":
        sh = files / "bin" / name
        greeting = '$(cat "$(dirname "$0")/../share/greeting.txt")'
        sh.write_text(f'#!/bin/sh\necho "hello from {name} {version} build {number}: {greeting}"\n')
        sh.chmod(0o755)
        (files / "Scripts" / f"{name}.bat").write_text(
            f'@echo hello from {name} {version} build {number}: & type "%~dp0..\\share\\greeting.txt"\r\n'
        )
    else:
        (files / "share").mkdir()
        (files / "share" / "greeting.txt").write_text(f"greetings, render farm (farm-greeting {version})\n")
    assemble_package(
        name=name,
        version=version,
        target_platform="noarch",
        build_string=f"h0_{number}",
        output_dir=str(out / "noarch"),
        files_dir=str(files),
        depends=depends,
        build_number=number,
        noarch="generic",
        license="Apache-2.0",
        summary="condafarm demo package",
        detect_prefix=False,
    )


async def _install(channel_url: str, prefix: Path, cache: Path) -> list[str]:
    import rattler

    records = await rattler.solve(
        sources=[channel_url],
        specs=["farm-hello"],
        gateway=rattler.Gateway(cache_dir=cache),
        platforms=[rattler.Platform.current(), rattler.Platform("noarch")],
    )
    await rattler.install(records, target_prefix=prefix, cache_dir=cache, show_progress=False)
    return [f"{r.name.normalized} {r.version} {r.build}" for r in records]


def run_demo(folder: Path, say: Callable[[str], None] = print) -> None:
    """Build the demo channel in `folder` (replacing an earlier demo there) and prove a client can use it."""
    folder = folder.absolute()
    if folder.exists():
        if not (folder / "noarch").is_dir():
            raise UsageError(f"{folder} exists and is not a demo channel; choose another folder")
        shutil.rmtree(folder)
    with tempfile.TemporaryDirectory(prefix="condafarm-demo-") as tmp:
        for name, version, number, depends in EXAMPLES:
            _assemble(Path(tmp), folder, name, version, number, depends)
        say(f"$ condafarm index {folder}")
        channel = parse_channel(str(folder))
        say(index_channel(channel).summary())
        say(f"$ condafarm ls {folder}")
        for item in list_packages(channel):
            r = item.record
            say(f"  {r['name']:<14} {r['version']:<5} {r['build']:<6} {item.subdir:<7} {item.filename}")
        report = check_channel(channel)
        health = "ok" if report.ok else "; ".join(report.problems)
        say(f"$ condafarm check {folder}\n{report.channel}: {health}, {report.packages} packages")
        prefix = Path(tmp) / "env"
        say("py-rattler solves 'farm-hello' from the channel and installs:")
        for line in asyncio.run(_install(channel.url, prefix, Path(tmp) / "cache")):
            say(f"  {line}")
        command = prefix / ("Scripts/farm-hello.bat" if os.name == "nt" else "bin/farm-hello")
        out = subprocess.run([str(command)], capture_output=True, text=True, check=True).stdout
        say(f"$ farm-hello\n{out.strip()}")
