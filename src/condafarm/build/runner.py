"""Run rattler-build on rendered variants, stream its log, and turn a failure into something a user can act on.

A failed farm build is debugged from its job log, so the failure says the reason in one line, keeps the last
lines of the build log, names the build folder rattler-build kept, and gives the command that opens a shell
with the build environment there.
"""

from __future__ import annotations

import json
import shlex
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import BuildError
from .recipe import output_of, rattler_message

#: `on_log(line)` receives every line of the build log as it happens.
LogSink = Callable[[str], None]
TAIL_LINES = 25


class BuildFailed(BuildError):
    """rattler-build failed on one output: the message is the one-line reason; the rest helps debug it."""

    def __init__(self, reason: str, log_tail: Sequence[str], build_dir: Path | None, debug_command: str | None):
        super().__init__(reason)
        self.log_tail = list(log_tail)
        self.build_dir = build_dir
        self.debug_command = debug_command


class _LogCallback:
    """rattler-build's progress-callback protocol: every event becomes log lines; the last ones are kept."""

    def __init__(self, sink: LogSink | None) -> None:
        self.sink = sink
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    def _emit(self, text: str) -> None:
        for line in text.strip("\n").splitlines() or [""]:
            self.tail.append(line)
            if self.sink is not None:
                self.sink(line)

    def on_log(self, event: Any) -> None:
        self._emit(event.message)

    def on_build_step(self, event: Any) -> None:
        self._emit(f"[{event.step_name}] {event.message}")

    def on_download_start(self, event: Any) -> None:
        self._emit(f"downloading {event.url}")

    def on_download_progress(self, event: Any) -> None:
        """Downloads are announced once, at the start; per-chunk progress would flood a job log."""

    def on_download_complete(self, event: Any) -> None:
        """See `on_download_progress`."""


def _work_dir(output_dir: Path, name: str) -> Path | None:
    """The work folder of `name`'s latest build, from the log rattler-build keeps in its output folder."""
    try:
        lines = (output_dir / "rattler-build-log.txt").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        work = Path(entry.get("work_dir", ""))
        if f"rattler-build_{name}_" in str(work) and work.is_dir():
            return work
    return None


def debug_command(work_dir: Path) -> str | None:
    """The command that opens the build environment in `work_dir` (the script rattler-build leaves there)."""
    if (work_dir / "build_env.bat").is_file():
        return f'cd /d "{work_dir}" && call build_env.bat'
    if (work_dir / "build_env.sh").is_file():
        return f"cd {shlex.quote(str(work_dir))} && . ./build_env.sh"
    return None


def run_variants(
    variants: Sequence[Any],
    *,
    output_dir: Path,
    channels: Sequence[str],
    keep_build: bool,
    test: bool,
    on_log: LogSink | None,
) -> list[Path]:
    """Build every rendered variant into `output_dir` and return the package files, or raise `BuildFailed`."""
    from rattler_build import ToolConfiguration

    tool = ToolConfiguration(keep_build=keep_build, test_strategy="native" if test else "skip")
    callback = _LogCallback(on_log)
    packages: list[Path] = []
    for variant in variants:
        output = output_of(variant)
        try:
            result = variant.run_build(
                tool_config=tool, output_dir=output_dir, channels=list(channels), progress_callback=callback
            )
        except Exception as exc:  # rattler-build raises its own exception types for every build failure
            work = _work_dir(output_dir, output.name)
            raise BuildFailed(
                f"building {output.name} {output.version} ({output.subdir}) failed: {rattler_message(str(exc))}",
                callback.tail,
                work.parent if work else None,
                debug_command(work) if work else None,
            ) from exc
        packages += [Path(p) for p in result.packages]
    return packages


__all__ = ["BuildFailed", "LogSink", "debug_command", "run_variants"]
