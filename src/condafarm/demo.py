"""`condafarm demo`: the main job end to end on a local folder channel, no cloud account needed.

Builds the example recipes of a condafarm checkout (`examples/recipes/`) into a folder channel with
`--build-number=+1` (farm-hello twice, so the channel holds builds 1 and 2; farm-greet takes farm-data from the
channel it is published to), lists and checks the channel, then has py-rattler, an independent client, solve
and install from it and runs the installed commands.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from .build import build_recipe
from .channel.read import check_channel, list_packages
from .errors import UsageError
from .storage.location import parse_channel

#: Built in this order: farm-greet needs farm-data in the channel; farm-hello twice shows +1 counting up.
RECIPES = ["farm-data", "farm-greet", "farm-hello", "farm-hello"]
COMMANDS = ["farm-hello", "farm-greet"]


def example_recipes() -> Path:
    """`examples/recipes` of the checkout this condafarm runs from."""
    folder = Path(__file__).resolve().parents[2] / "examples" / "recipes"
    if not folder.is_dir():
        raise UsageError(
            "the demo builds the example recipes of a condafarm checkout (examples/recipes), and this install "
            "has none: run it from a checkout (pip install -e .)"
        )
    return folder


async def _install(channel_url: str, prefix: Path, cache: Path) -> list[str]:
    import rattler

    records = await rattler.solve(
        sources=[channel_url],
        specs=COMMANDS,
        gateway=rattler.Gateway(cache_dir=cache),
        platforms=[rattler.Platform.current(), rattler.Platform("noarch")],
    )
    await rattler.install(records, target_prefix=prefix, cache_dir=cache, show_progress=False)
    return [f"{r.name.normalized} {r.version} {r.build}" for r in records]


def run_demo(folder: Path, say: Callable[[str], None] = print) -> None:
    """Build the demo channel in `folder` (replacing an earlier demo there) and prove a client can use it."""
    recipes = example_recipes()
    folder = folder.absolute()
    if folder.exists():
        if not (folder / "noarch").is_dir():
            raise UsageError(f"{folder} exists and is not a demo channel; choose another folder")
        shutil.rmtree(folder)
    channel = parse_channel(str(folder))
    for name in RECIPES:
        say(f"$ condafarm build {recipes / name} --to {folder} --build-number=+1")
        published = build_recipe(recipes / name, channel, build_number="+1").published
        for package in published.packages if published else []:
            say(f"published {package.url} ({package.subdir}, build number {package.build_number})")
    say(f"$ condafarm ls {folder}")
    for item in list_packages(channel):
        r = item.record
        say(f"  {r['name']:<11} {r['version']:<4} {r['build']:<11} {item.subdir:<7} {item.filename}")
    report = check_channel(channel)
    health = "ok" if report.ok else "; ".join(report.problems)
    say(f"$ condafarm check {folder}\n{report.channel}: {health}, {report.packages} packages")
    with tempfile.TemporaryDirectory(prefix="condafarm-demo-") as tmp:
        prefix = Path(tmp) / "env"
        say(f"py-rattler solves {' '.join(COMMANDS)} from the channel and installs:")
        for line in asyncio.run(_install(channel.url, prefix, Path(tmp) / "cache")):
            say(f"  {line}")
        for command in COMMANDS:
            exe = prefix / "Scripts" / f"{command}.bat" if os.name == "nt" else prefix / "bin" / command
            out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
            say(f"$ {command}\n{out.strip()}")
