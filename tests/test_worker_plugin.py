"""condafarm-worker, the worker-host side: OpenJD messages, session facts, and cancellation that kills the
whole child process tree and never leaves a half-updated channel."""

from __future__ import annotations

import ast
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import condafarm_worker
import psutil
import pytest
from condafarm_worker import Messages, SessionInfo
from support.cli import run_cli
from support.openjd import BUNDLES, QUEUE_ENVS, messages, worker_env
from support.s3 import S3Endpoint

import condafarm

WORKER = str(Path(sys.executable).parent / "condafarm-worker")


def test_messages_are_single_protocol_lines() -> None:
    out = io.StringIO()
    say = Messages(out)
    say.progress(140)
    say.status("building\nfarm-hello   for linux-64")
    say.fail("recipe.yaml line 3: unknown key")
    say.set_env("PATH", 'C:\\condafarm\\Scripts;C:\\Program Files\\x "y"')
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "openjd_progress: 100.0",
        "openjd_status: building farm-hello for linux-64",
        "openjd_fail: recipe.yaml line 3: unknown key",
    ]
    assert json.loads(lines[3].removeprefix("openjd_env: ")) == 'PATH=C:\\condafarm\\Scripts;C:\\Program Files\\x "y"'


def test_session_info_names_the_queue_role_profile_never_keys() -> None:
    env = {
        "DEADLINE_FARM_ID": "farm-1",
        "DEADLINE_QUEUE_ID": "queue-2",
        "DEADLINE_SESSION_ID": "session-3",
        "AWS_PROFILE": "deadline-queue-2",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
    }
    info = SessionInfo.from_env(env)
    text = info.describe()
    assert info.on_deadline and "queue queue-2" in text and "'deadline-queue-2' (the queue role)" in text
    assert "s3cr3t" not in text
    local = SessionInfo.from_env({})
    assert (
        not local.on_deadline and local.describe() == "a local OpenJD session; credentials from the default AWS chain"
    )


def _condafarm_imports(source: Path) -> Iterator[tuple[str, set[str]]]:
    """`(module, names)` for every absolute import of condafarm in a Python source file."""
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "condafarm":
            yield node.module or "", {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            yield from ((alias.name, set()) for alias in node.names if alias.name.split(".")[0] == "condafarm")


def test_worker_uses_only_the_public_api_and_the_shared_console_module() -> None:
    """The library's internal modules move (issue 10 moved most of them); the plugin must not depend on them."""
    for source in sorted(Path(condafarm_worker.__file__).parent.glob("*.py")):
        for module, names in _condafarm_imports(source):
            assert module in ("condafarm", "condafarm.console"), (source.name, module)
            if module == "condafarm":
                assert names <= {*condafarm.__all__, "__version__"}, (source.name, names)


#: Stands for a build script that ignores the cancel notice (on POSIX the notice never reaches it; on Windows
#: it would end it before the supervisor does): writes its own pid to argv[1], starts one more of itself when
#: asked to (argv[2]), then waits.
STUBBORN = """\
import os, signal, subprocess, sys, time
if sys.platform == "win32":
    signal.signal(signal.SIGBREAK, signal.SIG_IGN)
if len(sys.argv) > 2:
    subprocess.Popen([sys.executable, __file__, sys.argv[2]])
open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(300)
"""


def _supervised(
    script: str, tmp_path: Path, *, unwind: float = 1, main: str = "supervisor.run(work)"
) -> subprocess.Popen[str]:
    """Run `script` (the body of `work()`) under a Supervisor (`main`) in its own process, as an action would: on
    Windows in a process group of its own, as OpenJD starts actions, so `_notify` reaches it alone. Its
    output is UTF-8 (on a Windows pipe the action's own output is the ANSI code page, not the subject here)."""
    (tmp_path / "stubborn.py").write_text(STUBBORN)
    code = textwrap.dedent(
        """
        import os, subprocess, sys, time
        from pathlib import Path
        from condafarm_worker import Messages, Supervisor
        tmp = Path(sys.argv[1])
        stubborn = str(tmp / "stubborn.py")
        (tmp / "supervisor").write_text(str(os.getpid()))
        supervisor = Supervisor(Messages(), unwind_seconds={unwind})
        def work():
        {body}
        print("exit", {main}, flush=True)
        """
    ).format(body=textwrap.indent(textwrap.dedent(script), "    "), unwind=unwind, main=main)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        creationflags=subprocess.CREATE_NEW_PROCESS_GROUP if sys.platform == "win32" else 0,
    )


def _notify(proc: subprocess.Popen[str]) -> None:
    """What OpenJD does to cancel an action: SIGTERM to its process, or CTRL_BREAK_EVENT to its process group."""
    if sys.platform == "win32":
        proc.send_signal(signal.CTRL_BREAK_EVENT)
    else:
        proc.send_signal(signal.SIGTERM)


def _wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 60, whole_line: bool = False) -> None:
    """Wait until `path` exists (`whole_line`: and holds a line ending in a newline, as a shell's `echo > FILE`
    leaves it once written, while it is empty just after the redirection created it)."""
    deadline = time.monotonic() + seconds
    while not path.exists() or (whole_line and not path.read_text().endswith("\n")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _tree(tmp_path: Path) -> list[int]:
    """Every process below the supervised one (on Windows a venv's python.exe adds a launcher per process)."""
    return [p.pid for p in psutil.Process(int((tmp_path / "supervisor").read_text())).children(recursive=True)]


def test_cancel_kills_the_child_process_tree(tmp_path: Path) -> None:
    proc = _supervised(
        """
        child = subprocess.Popen([sys.executable, stubborn, str(tmp / "child"), str(tmp / "grandchild")])
        child.wait()
        return 0
        """,
        tmp_path,
    )
    for name in ("child", "grandchild"):
        _wait_for(tmp_path / name, proc)
    pids = [int((tmp_path / name).read_text()) for name in ("child", "grandchild")]
    tree = _tree(tmp_path)
    assert set(pids) <= set(tree) and all(_alive(pid) for pid in tree)
    _notify(proc)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert f"openjd_fail: canceled; stopped {len(tree)} child process(es); the channel was not changed" in out
    assert not any(_alive(pid) for pid in tree)


def test_cancel_waits_for_a_shielded_section_and_then_stops(tmp_path: Path) -> None:
    """The section goes on only when the test says so, after the supervisor has announced that it waits for it:
    no time window decides whether the cancel arrived inside the section."""
    proc = _supervised(
        """
        with supervisor.shielded("publishing"):
            (tmp / "started").write_text("")
            deadline = time.monotonic() + 120
            while not (tmp / "go").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            (tmp / "finished").write_text("")
        supervisor.check()
        (tmp / "after").write_text("")
        return 0
        """,
        tmp_path,
    )
    _wait_for(tmp_path / "started", proc)
    _notify(proc)
    assert proc.stdout is not None
    announced = []
    for line in proc.stdout:  # ends early if the supervisor stops without waiting
        announced.append(line)
        if "openjd_status: cancel requested: finishing publishing first so the channel stays valid" in line:
            break
    else:
        raise AssertionError(f"the supervisor never said it waits for the section: {announced}")
    assert proc.poll() is None and not (tmp_path / "finished").exists(), "the section was cut short"
    (tmp_path / "go").write_text("")
    out, _ = proc.communicate(timeout=60)
    assert (tmp_path / "finished").exists() and not (tmp_path / "after").exists()
    assert "publishing had finished" in out and proc.returncode == 143


def test_a_section_cannot_start_after_a_cancel(tmp_path: Path) -> None:
    proc = _supervised(
        """
        (tmp / "started").write_text("")
        while not supervisor.cancelled:
            time.sleep(0.01)
        try:
            supervisor.begin_shield("publishing")
        except Exception as exc:
            (tmp / "refused").write_text(type(exc).__name__)
        time.sleep(30)
        return 0
        """,
        tmp_path,
    )
    _wait_for(tmp_path / "started", proc)
    _notify(proc)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "the channel was not changed" in out
    assert (tmp_path / "refused").read_text() == "Cancelled"


#: The build child `run_child` supervises: its build script (a stubborn process) is killed under it, and it
#: unwinds as a failed build does, saying so in non-ASCII, which must reach the task log intact.
BUILD_CHILD = """\
import subprocess, sys
from pathlib import Path
tmp = Path(sys.argv[1])
subprocess.run([sys.executable, str(tmp / "stubborn.py"), str(tmp / "script")])
(tmp / "unwound").write_text("")
print("openjd_fail: build script ended \u2716 Überprüfung", flush=True)
sys.exit(1)
"""


def test_a_cancelled_build_child_unwinds_before_the_action_leaves(tmp_path: Path) -> None:
    """The cancel notice must not reach the build child itself (on Windows it would end it at once): only its
    scripts are killed, and it fails and releases its reservations as a failed build does."""
    (tmp_path / "build_child.py").write_text(BUILD_CHILD, encoding="utf-8")
    proc = _supervised(
        "pass",
        tmp_path,
        unwind=30,
        main='supervisor.run_child([sys.executable, str(tmp / "build_child.py"), str(tmp)])',
    )
    _wait_for(tmp_path / "script", proc)
    script = int((tmp_path / "script").read_text())
    _notify(proc)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143 and (tmp_path / "unwound").exists() and not _alive(script)
    assert "(after cancel) build script ended \u2716 Überprüfung" in out
    assert "openjd_fail: canceled; stopped " in out and "the channel was not changed" in out


def test_maintenance_errors_become_openjd_fail_with_the_documented_exit_code(tmp_path: Path) -> None:
    result = subprocess.run(
        [WORKER, "maintain", "yank", "--channel", str(tmp_path / "ch"), "--files", ""],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "openjd_fail: yank needs the file names" in result.stdout


SLOW_RECIPE = """\
package:
  name: slow-tool
  version: "1.0"
build:
  noarch: generic
  script:
    - echo $$ > {marker}/shell
    - sleep 300 &
    - echo $! > {marker}/sleeper
    - wait
    - echo $? > {marker}/ran-on
"""


@pytest.mark.slow
@pytest.mark.posix("the recipe's build script is sh and the job template is build_linux's")
def test_build_cancelled_mid_build_leaves_no_orphans_and_a_valid_channel(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    """SIGTERM to `openjd run` cancels the action (SIGTERM to condafarm-worker), as the worker agent does."""
    marker = tmp_path / "marker"
    marker.mkdir()
    recipe = tmp_path / "slow-tool"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(SLOW_RECIPE.format(marker=marker.as_posix()))
    channel = f"s3://{bucket}/Conda/Default"
    env = worker_env(s3)
    assert run_cli("init", channel, env=env).returncode == 0
    args = [str(Path(sys.executable).parent / "openjd"), "run", str(BUNDLES / "build_linux" / "template.yaml")]
    for key, value in {"RecipeDir": str(recipe), "DestinationChannel": channel, "MinFreeDiskGB": "0"}.items():
        args += ["-p", f"{key}={value}"]
    args += ["--environment", str(QUEUE_ENVS / "conda_build.yaml")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        _wait_for(marker / "sleeper", proc, seconds=240, whole_line=True)
        pids = [int((marker / name).read_text()) for name in ("shell", "sleeper")]
        assert all(_alive(pid) for pid in pids)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = subprocess.CompletedProcess(args, proc.returncode, out, "")
    (reason,) = messages(result, "fail")
    assert reason.startswith("canceled; stopped") and "the channel was not changed" in reason
    assert not any(_alive(pid) for pid in pids), "orphaned build processes"
    assert proc.returncode != 0
    check = run_cli("check", channel, env=env)
    assert check.returncode == 0 and "ok, 0 packages" in check.stdout, check.stdout + check.stderr
    listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="Conda/Default/")
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert not [k for k in keys if "slow-tool" in k or "build-numbers" in k], keys  # reservation released
    # the build script itself was stopped, not only its sleeper: it never ran on past its `wait`
    assert sorted(os.listdir(marker)) == ["shell", "sleeper"]
