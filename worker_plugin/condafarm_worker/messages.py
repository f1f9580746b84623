"""The OpenJD stdout protocol: `openjd_progress`, `openjd_status`, `openjd_fail`, `openjd_env` lines.

The worker agent reads these from an action's stdout to update the task's progress and status message in the
Deadline Cloud monitor, to record why a task failed, and (from environment actions) to set variables for the
rest of the session. Each message must be one line, so text is collapsed onto one.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from condafarm import redact


def _one_line(text: str) -> str:
    """Collapsed onto one line, secrets masked (task messages end up in farm logs and the monitor)."""
    return redact(" ".join(str(text).split()))


class Messages:
    """Writes OpenJD messages to a stream (stdout by default), flushing each so the agent sees it at once."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def _emit(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def progress(self, percent: float) -> None:
        """Task progress, 0 to 100."""
        self._emit(f"openjd_progress: {min(max(percent, 0.0), 100.0):.1f}")

    def status(self, text: str) -> None:
        """The task's one-line status message in the monitor."""
        self._emit(f"openjd_status: {_one_line(text)}")

    def fail(self, text: str) -> None:
        """The reason the task failed, shown in the monitor (the action must still exit non-zero)."""
        self._emit(f"openjd_fail: {_one_line(text)}")

    def set_env(self, name: str, value: str) -> None:
        """Set a variable for the rest of the session (only honoured from environment actions).

        JSON-quoted so values with spaces, quotes or backslashes (Windows paths) arrive unchanged.
        """
        self._emit("openjd_env: " + json.dumps(f"{name}={value}"))

    def log(self, text: str) -> None:
        """A plain log line (not a protocol message)."""
        self._emit(redact(text))
