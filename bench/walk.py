"""The walk of one command through condafarm's code: at how many places each room (package) and module is entered.

usage:
  python bench/walk.py                # publish, index and env create on a small folder channel
  python bench/walk.py publish        # one of them

A room is a package folder under src/condafarm (`channel/commit`, `storage/s3`, `channel` for the modules on
channel's own floor). An entry is a distinct (calling function, called function) pair whose caller runs in another
room (or module): a loop that calls the same function a thousand times is one entry, so the figures describe the
code's shape, not the channel's size. STYLE.md asks that one publish go down through each room once or twice: this
prints what it does, so the claim is measured, not asserted. Calls from worker threads count too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

from common import ROOT
from support.packages import make_channel, make_package

import condafarm
from condafarm.cli import run

SRC = Path(condafarm.__file__).resolve().parent


class Walk:
    """Counts entries into rooms and modules while installed as the profiler of every thread."""

    def __init__(self) -> None:
        self.rooms: Counter[str] = Counter()
        self.modules: Counter[str] = Counter()
        self._seen: set[tuple[CodeType | None, CodeType]] = set()
        self._where: dict[str, tuple[str, str] | None] = {}

    def _place(self, filename: str) -> tuple[str, str] | None:
        if filename not in self._where:
            path = Path(filename)
            self._where[filename] = (
                (path.parent.relative_to(SRC).as_posix() or ".", path.relative_to(SRC).as_posix())
                if path.is_relative_to(SRC)
                else None
            )
        return self._where[filename]

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        callee = self._place(frame.f_code.co_filename)
        if callee is None:
            return
        edge = (frame.f_back.f_code if frame.f_back else None, frame.f_code)
        if edge in self._seen:
            return
        self._seen.add(edge)
        caller = self._place(frame.f_back.f_code.co_filename) if frame.f_back else None
        if caller is None or caller[0] != callee[0]:
            self.rooms[callee[0]] += 1
        if caller is None or caller[1] != callee[1]:
            self.modules[callee[1]] += 1


def _walk(argv: list[str]) -> Walk:
    walk = Walk()
    threading.setprofile(walk.profile)
    sys.setprofile(walk.profile)
    try:
        code = run(argv)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    if code != 0:
        raise SystemExit(f"condafarm {' '.join(argv)} failed with exit code {code}")
    return walk


def _report(title: str, walk: Walk, top: int) -> None:
    print(f"\n## {title}\n\n| room | entries |\n|---|---|")
    for room, count in sorted(walk.rooms.items(), key=lambda item: (-item[1], item[0])):
        print(f"| {room} | {count} |")
    print(f"\n| module (top {top}) | entries |\n|---|---|")
    for module, count in walk.modules.most_common(top):
        print(f"| {module} | {count} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("commands", nargs="*", default=[], help="publish, index, env (default all)")
    parser.add_argument("--top", type=int, default=12, help="modules to list per command (default 12)")
    options = parser.parse_args()
    wanted = options.commands or ["publish", "index", "env"]
    if unknown := set(wanted) - {"publish", "index", "env"}:
        parser.error(f"unknown command(s) {', '.join(sorted(unknown))}: choose from publish, index, env")
    with tempfile.TemporaryDirectory(prefix="condafarm walk ") as tmp:
        work = Path(tmp)
        channel = work / "channel $ é"
        make_channel(channel, {"noarch": 20, "linux-64": 20})
        steps: dict[str, Callable[[], list[str]]] = {
            "publish": lambda: [
                "publish",
                str(make_package(work / "new", name="walker", version="2.0")),
                "--to",
                str(channel),
            ],
            "index": lambda: ["index", str(channel)],
            "env": lambda: [
                "env",
                "create",
                str(work / "prefix"),
                "--channels",
                channel.as_uri(),
                "--cache-dir",
                str(work / "cache"),
                "--packages",
                "pkg1",
            ],
        }
        assert run(["index", str(channel)]) == 0
        for name in wanted:
            argv = steps[name]()
            _report(f"condafarm {argv[0]} {argv[1] if name == 'env' else ''}".rstrip(), _walk(argv), options.top)
    print(f"\n(measured from {ROOT})")


if __name__ == "__main__":
    main()
