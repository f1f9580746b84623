"""Cancellation on a worker host: stop promptly, kill every child process, never leave a half-updated channel.

OpenJD cancels an action by notifying it, then kills it after the notify period. On Linux and macOS the notice
is SIGTERM to the action's own process only; a build's scripts run in child processes that signal never
reaches, so before leaving, the action kills its whole process tree with psutil. On Windows the notice is
CTRL_BREAK_EVENT to the action's console process group: it reaches every child started normally and ends any
that does not handle it at once, so the build child starts in a process group of its own (`child_start`) and
is stopped as on the other systems (psutil's terminate and kill are both TerminateProcess there).

Library work that releases the GIL (publish, index, check) runs in a thread (`Supervisor.run`) while the main
thread answers the signal; a section that updates the channel runs `shielded`, and a cancel that arrives
during it waits for it to end, so the channel is always either unchanged or fully updated. py-rattler-build
holds the GIL for a whole build, so no Python code of that process runs until it returns: a build runs in a
child process instead (`Supervisor.run_child`), and a cancel kills the build's scripts, lets the child unwind
(its build fails and releases its build numbers, or a publish it already started completes), then kills it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from types import FrameType
from typing import IO, Any

import psutil

from condafarm import exit_now

from .messages import Messages

log = logging.getLogger("condafarm_worker")

#: Exit status of a cancelled action: 128 + SIGTERM, as a shell reports a process ended by SIGTERM.
CANCELLED_EXIT = 143

_SIGNALS = [signal.SIGTERM, signal.SIGINT]
if sys.platform == "win32":  # OpenJD notifies Windows actions with CTRL_BREAK_EVENT
    _SIGNALS.append(signal.SIGBREAK)

#: Windows' CREATE_NEW_PROCESS_GROUP creation flag (`subprocess` defines it only on Windows).
CREATE_NEW_PROCESS_GROUP = 0x00000200


class Cancelled(Exception):
    """Raised inside the work when it checks for cancellation (`Supervisor.check`)."""


def kill_children(pid: int | None = None, timeout: float = 5.0) -> int:
    """Terminate, then kill, every descendant of `pid` (this process by default); returns how many there were.

    Rounds repeat until none is left, so a process started while the first ones were being stopped is caught.
    """
    root = psutil.Process(os.getpid() if pid is None else pid)
    seen: set[int] = set()
    for _ in range(5):
        try:
            children = root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        if not children:
            break
        seen.update(c.pid for c in children)
        for child in children:
            with suppress(psutil.NoSuchProcess):
                child.terminate()
        _, alive = psutil.wait_procs(children, timeout=timeout)
        for child in alive:
            with suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(alive, timeout=timeout)
    return len(seen)


def child_start(
    argv: list[str], *, platform: str, environ: Mapping[str, str], executable: str, base_executable: str
) -> tuple[list[str], dict[str, Any]]:
    """The command and `Popen` options `Supervisor.run_child` starts `argv` with on a `platform` host (a
    `sys.platform` value; `executable` and `base_executable` are `sys.executable` and the interpreter a venv was
    made from). The relay reads the child's output as UTF-8, what Linux and macOS hosts write. On Windows the
    child writes UTF-8 too (a pipe there defaults to the ANSI code page, which cannot encode every character of
    a build log), gets a process group of its own, so the CTRL_BREAK_EVENT sent to the action does not end it
    mid-publish, and a venv's python.exe, a launcher that runs the interpreter as its own child (which
    `kill_children` would take for a build script), is bypassed as `multiprocessing` does (bpo-35797)."""
    if platform != "win32":
        return argv, {}
    env = {**environ, "PYTHONIOENCODING": "utf-8:backslashreplace"}
    if argv[:1] == [executable] and base_executable != executable:
        env["__PYVENV_LAUNCHER__"] = executable
        argv = [base_executable, *argv[1:]]
    return argv, {"env": env, "creationflags": CREATE_NEW_PROCESS_GROUP}


class Supervisor:
    """Runs one piece of work so that a cancel signal stops it cleanly (see the module docstring)."""

    def __init__(self, messages: Messages, *, poll_seconds: float = 0.2, unwind_seconds: float = 60.0) -> None:
        self.messages = messages
        self._poll = poll_seconds
        self._unwind = unwind_seconds
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._shields: list[str] = []
        self._thread: threading.Thread | None = None
        self._finished: list[str] = []  # shielded sections that completed, for the cancel report

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise `Cancelled` if a cancel has arrived (call between steps of the work)."""
        if self._cancel.is_set():
            raise Cancelled("canceled")

    def begin_shield(self, what: str) -> None:
        """Start a section a cancel must not interrupt; raises `Cancelled` instead if a cancel came first.

        The check and the start are one step under the lock the main thread reads the shields with, so a
        cancel either sees the section (and waits for it) or the section never starts.
        """
        with self._lock:
            self.check()
            self._shields.append(what)

    def end_shield(self, what: str) -> None:
        with self._lock:
            if what in self._shields:
                self._shields.remove(what)
                self._finished.append(what)

    @contextmanager
    def shielded(self, what: str) -> Iterator[None]:
        """`begin_shield` .. `end_shield` around a block (e.g. publishing to the channel)."""
        self.begin_shield(what)
        try:
            yield
        finally:
            self.end_shield(what)

    def _shielded_by(self) -> str | None:
        with self._lock:
            return self._shields[-1] if self._shields else None

    def request_cancel(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self._cancel.set()

    def run(self, work: Callable[[], int]) -> int:
        """Run `work` in a thread from the main thread and return its exit code; on a cancel signal, wait for
        any shielded section, kill the child processes, report, and leave the process with `CANCELLED_EXIT`."""
        outcome: list[int] = []
        errors: list[BaseException] = []

        def target() -> None:
            try:
                outcome.append(work())
            except BaseException as exc:  # handed to the main thread, which re-raises it
                errors.append(exc)

        previous: dict[int, Any] = {sig: signal.signal(sig, self.request_cancel) for sig in _SIGNALS}
        self._thread = threading.Thread(target=target, name="condafarm-work", daemon=True)
        try:
            self._thread.start()
            waited_for: str | None = None
            while self._thread.is_alive():
                self._thread.join(self._poll)
                if not self._cancel.is_set():
                    continue
                shield = self._shielded_by()
                if shield is None:
                    self._abort()
                elif shield != waited_for:
                    waited_for = shield
                    self.messages.status(f"cancel requested: finishing {shield} first so the channel stays valid")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._cancel.is_set():
            self._abort()
        if errors:
            raise errors[0]
        return outcome[0]

    def run_child(self, argv: list[str]) -> int:
        """Run `argv` as a child process, relaying its output lines, and return its exit code; on a cancel
        signal, stop it as the module docstring says and leave with `CANCELLED_EXIT`."""
        command, options = child_start(
            argv,
            platform=sys.platform,
            environ=os.environ,
            executable=sys.executable,
            base_executable=sys._base_executable,  # type: ignore[attr-defined]  # CPython's, not in typeshed
        )
        child = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            **options,
        )
        assert child.stdout is not None
        relay = threading.Thread(target=self._relay, args=(child.stdout,), name="condafarm-relay", daemon=True)
        relay.start()
        previous: dict[int, Any] = {sig: signal.signal(sig, self.request_cancel) for sig in _SIGNALS}
        try:
            while child.poll() is None and not self._cancel.wait(self._poll):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._cancel.is_set():
            self.messages.status("canceled: stopping the build's processes")
            count = kill_children(child.pid)
            try:
                child.wait(self._unwind)
            except subprocess.TimeoutExpired:
                count += kill_children(child.pid)
                child.kill()
                child.wait()
            relay.join(5)
            done = "its packages had been published" if child.returncode == 0 else "the channel was not changed"
            self._leave(f"canceled; stopped {count} process(es); {done}")
        relay.join()
        return int(child.returncode)

    def _relay(self, stream: IO[str]) -> None:
        """Copy the child's lines to our stdout; after a cancel its own failure report is only a log line."""
        for line in stream:
            text = line.rstrip("\n")
            if self._cancel.is_set() and text.startswith("openjd_fail: "):
                text = "(after cancel) " + text.removeprefix("openjd_fail: ")
            self.messages.log(text)

    def _abort(self) -> None:
        """Kill the child processes, give the work a moment to unwind (a build whose script was killed fails
        and releases its build-number reservations; a publish that had not started refuses to start), then
        leave without waiting for native code that may never return."""
        self.messages.status("canceled: stopping child processes")
        count = kill_children()
        if self._thread is not None:
            self._thread.join(self._unwind)
            count += kill_children()
        with self._lock:
            done = f"{', '.join(self._finished)} had finished" if self._finished else "the channel was not changed"
        self._leave(f"canceled; stopped {count} child process(es); {done}")

    def _leave(self, reason: str) -> None:
        self.messages.fail(reason)
        exit_now(CANCELLED_EXIT)
