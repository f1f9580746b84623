"""What a command-line front end shares (`condafarm` and `condafarm-worker`): logging, the way out, progress
throttling and terminal progress, and how a failed build or a channel check is reported.

Imported at start-up by both commands, so it loads no subsystem at import time.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from . import numbers as numbers  # re-exported: front ends parse numbers with it
from .errors import ChannelProblems
from .redaction import RedactingFormatter
from .redaction import redact as redact  # re-exported: front ends mask their own output lines with it

if TYPE_CHECKING:
    from .build import BuildFailed
    from .channel.read import CheckReport

#: Where a report goes, one line per call (`print`, or a worker's log).
Say = Callable[[str], object]


def configure_logging(level: int, *, quiet_libraries: bool = True) -> None:
    """One-line log records on stderr, secrets masked; boto3 and friends stay at WARNING unless asked (-vv)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if quiet_libraries:
        for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def exit_now(code: int) -> None:
    """Flush and leave with `os._exit`: py-rattler 0.28 sometimes crashes during interpreter teardown after a
    successful call, which must not turn success into a failure exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


class Throttle:
    """Decides which progress updates are worth showing: the final one always; any other only once `seconds`
    have passed since the last one shown (terminal redraws) and, with a `step`, once the value has moved by at
    least `step` from it (`openjd_progress` lines, which land in the task log)."""

    def __init__(self, *, seconds: float = 0.0, step: float = 0.0) -> None:
        self.seconds, self.step = seconds, step
        self._at = -math.inf
        self._value = -math.inf

    def __call__(self, value: float = 0.0, *, final: bool = False) -> bool:
        now = time.monotonic()
        if not final and (now - self._at < self.seconds or (self.step and value - self._value < self.step)):
            return False
        self._at, self._value = now, value
        return True


class Progress:
    """A one-line progress counter `(what, done, total)` on a terminal; silent otherwise (logs stay clean in
    farm jobs)."""

    def __init__(self, enabled: bool, verb: str = "read", unit: str = "packages") -> None:
        self.enabled, self.verb, self.unit = enabled, verb, unit
        self._throttle = Throttle(seconds=0.1)

    def __call__(self, what: str, done: int, total: int) -> None:
        if not self.enabled or not self._throttle(final=done >= total):
            return
        end = "\n" if done == total else ""
        sys.stderr.write(f"\r  {what}: {self.verb} {done}/{total} {self.unit}{end}")
        sys.stderr.flush()


class UploadBar:
    """Per-file upload progress `(filename, bytes done, bytes total)` as a bar on a terminal; silent otherwise
    (farm logs get the summary lines)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._throttle = Throttle(seconds=0.2)

    def __call__(self, filename: str, done: int, total: int) -> None:
        if not self.enabled or not self._throttle(final=done >= total):
            return
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done >= total else ""
        sys.stderr.write(
            f"\r  {filename[:40]:<40} [{'#' * filled}{'.' * (width - filled)}] "
            f"{done / 1e6:,.1f}/{total / 1e6:,.1f} MB{end}"
        )
        sys.stderr.flush()


def report_build_failure(exc: BuildFailed, say: Say, *, kept_on: str = "") -> None:
    """Say what helps debug a failed build: the end of its log, the kept build folder (on `kept_on`, e.g.
    "this host") and the command for a debug shell there."""
    say(f"--- last {len(exc.log_tail)} lines of the build log ---")
    for line in exc.log_tail:
        say(f"  {line}")
    if exc.build_dir is not None:
        say(f"build folder kept{f' on {kept_on}' if kept_on else ''}: {exc.build_dir}")
    if exc.debug_command is not None:
        say(f"debug shell there: {exc.debug_command}")


def report_check(report: CheckReport, say: Say) -> str:
    """Say what a channel check noted and each problem it found, and raise `ChannelProblems` (exit 7) if there
    were any problems; otherwise return the line that says the channel is ok."""
    for note in report.notes:
        say(note)
    for problem in report.problems:
        say(problem)
    if not report.ok:
        raise ChannelProblems(f"{report.channel}: {len(report.problems)} problem(s) in {report.packages} packages")
    return f"{report.channel}: ok, {report.packages} packages"


def parse_size(text: str) -> int:
    """Bytes in a size given on a command line (`50G`, `500MB`, `1.5TiB` or a byte count), as builds take it."""
    from .build.preflight import parse_size as parse

    return parse(text)


def package_files(folder: Path) -> list[Path]:
    """Every conda package file (.conda, .tar.bz2) under `folder`, sorted for a stable order."""
    from .conda.package import is_package_filename

    return sorted(p for p in folder.rglob("*") if p.is_file() and is_package_filename(p.name))
