"""Child-process measurement: every index or publish runs in a fresh `python bench/run.py _child ...` process.

The child imports its library first, times only the call, records its own peak RSS and bytes read, prints
one result line and leaves with `os._exit` (py-rattler 0.28 can crash at interpreter exit after a successful
call). This module is all a child imports of the benchmark: whatever it loads counts in the measured RSS.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import BENCH, PEER_SHARDS, PREFIX, child_env
from support.rattler_client import s3_credentials

if TYPE_CHECKING:
    from support.proxy import S3Proxy

RESULT_TAG = "BENCH_RESULT "
READY = "BENCH_READY"


def _proc_io() -> dict[str, int]:
    """This process's /proc/self/io counters (all threads); empty where there is no procfs."""
    try:
        with open("/proc/self/io") as f:
            return {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines())}
    except OSError:
        return {}


def _peak_rss_mb() -> float:
    """Peak RSS of this process since its exec: VmHWM. (`ru_maxrss` is no good here: Linux carries the
    parent's peak over fork+exec into it, so every child would report at least the bench's own peak.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _report(result: dict[str, Any]) -> int:
    print(RESULT_TAG + json.dumps(result))
    return 0


def index_child(argv: list[str]) -> int:
    """`TOOL KIND TARGET [ENDPOINT]`: run one index in this (fresh) process and print one result line."""
    tool, kind, target = argv[0], argv[1], argv[2]
    endpoint = argv[3] if len(argv) > 3 else None
    extra: dict[str, Any] = {}
    if tool == "condafarm":
        import rattler  # noqa: F401  (index checks metadata with it; imported before the clock, as the peer's is)

        from condafarm import S3Options, index_channel, parse_channel

        if kind == "s3":
            import condafarm.storage.s3  # noqa: F401  (import boto3 before the clock starts, as rattler's is)

            channel = parse_channel(
                target, S3Options(endpoint_url=endpoint, region="us-east-1", addressing_style="path")
            )
        else:
            channel = parse_channel(target)
        io0, t0 = _proc_io(), time.perf_counter()
        report = index_channel(channel)
        seconds = time.perf_counter() - t0
        extra["requests"] = report.requests
        extra["summary"] = {k: report.total(k) for k in ("added", "updated", "removed", "skipped", "unchanged")}
    else:
        import asyncio

        from rattler.index import index_fs, index_s3

        if kind == "s3":
            assert endpoint is not None
            creds = s3_credentials(endpoint)
            io0, t0 = _proc_io(), time.perf_counter()
            asyncio.run(index_s3(target, credentials=creds, write_shards=PEER_SHARDS))
        else:
            io0, t0 = _proc_io(), time.perf_counter()
            asyncio.run(index_fs(Path(target), write_shards=PEER_SHARDS))
        seconds = time.perf_counter() - t0
    io1 = _proc_io()
    return _report(
        {
            "seconds": seconds,
            "maxrss_mb": _peak_rss_mb(),
            "rchar": io1.get("rchar", 0) - io0.get("rchar", 0) if io0 else None,
            "read_bytes": io1.get("read_bytes", 0) - io0.get("read_bytes", 0) if io0 else None,
            **extra,
        }
    )


def _wait_for_go() -> None:
    """Tell the parent this child is ready (its imports are done) and wait for its go (see `run_together`)."""
    print(READY, flush=True)
    sys.stdin.readline()


def publish_child(argv: list[str]) -> int:
    """`TOOL S3URL ENDPOINT PACKAGE SUBDIR [--together]`: publish one package (the peer: upload, then
    `index_s3`). With `--together` (a storm) the clock starts only at the parent's go (`run_together`)."""
    together = argv[-1] == "--together"
    tool, url, endpoint, package, subdir = argv[:5]
    path = Path(package)
    if tool == "condafarm":
        import rattler  # noqa: F401  (imported before the clock starts, as the peer's is)

        import condafarm.storage.s3  # noqa: F401  (boto3: condafarm imports it lazily, the peer up front)
        from condafarm import S3Options, parse_channel
        from condafarm.channel.publish import publish

        channel = parse_channel(url, S3Options(endpoint_url=endpoint, region="us-east-1", addressing_style="path"))
        if together:
            _wait_for_go()
        start, t0 = time.time(), time.perf_counter()
        publish(channel, [path])
        seconds = time.perf_counter() - t0
    else:
        import asyncio

        import boto3
        import botocore.config
        from rattler.index import index_s3

        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=botocore.config.Config(s3={"addressing_style": "path"}),
        )
        creds = s3_credentials(endpoint)
        bucket = url[len("s3://") :].split("/", 1)[0]
        if together:
            _wait_for_go()
        start, t0 = time.time(), time.perf_counter()
        client.upload_file(str(path), bucket, f"{PREFIX}/{subdir}/{path.name}")
        asyncio.run(index_s3(url, credentials=creds, write_shards=PEER_SHARDS))
        seconds = time.perf_counter() - t0
    return _report({"seconds": seconds, "start": start, "end": start + seconds})


def child(argv: list[str]) -> int:
    """`_child publish ARGS...` or `_child ARGS...` (an index)."""
    return publish_child(argv[1:]) if argv[0] == "publish" else index_child(argv)


def _child_command(argv: list[str]) -> list[str]:
    return [sys.executable, str(BENCH / "run.py"), "_child", *argv]


def _result(returncode: int, stdout: str, stderr: str, what: str) -> dict[str, Any]:
    """A finished child's result line; `RuntimeError` with its stderr if it failed."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if returncode != 0 or not lines:
        raise RuntimeError(f"{what} failed (exit {returncode}):\n{stderr[-4000:]}")
    return dict(json.loads(lines[-1][len(RESULT_TAG) :]))


def run_child(argv: list[str], what: str) -> tuple[dict[str, Any], float]:
    """Run `bench/run.py _child ARGV...`; returns its result line and the whole process's seconds."""
    started = time.perf_counter()
    proc = subprocess.run(
        _child_command(argv), capture_output=True, text=True, env=child_env(), timeout=3600, check=False
    )
    elapsed = time.perf_counter() - started
    return _result(proc.returncode, proc.stdout, proc.stderr, what), elapsed


def run_together(argvs: list[list[str]], what: str) -> tuple[float, list[dict[str, Any] | str]]:
    """Start one `_child` per argv (each given `--together`), wait until all have said they are ready, then
    let them all go at once, so that their start-up is not part of what is measured. Returns the go time
    (`time.time()`) and each child's result line, or the error of a child that failed."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as files:
        # stderr into files, not pipes: a child must never block on a full pipe nobody reads yet
        errs = [files.enter_context(open(Path(tmp) / f"{i}.err", "w+")) for i in range(len(argvs))]
        procs = [
            subprocess.Popen(
                _child_command(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=child_env(),
            )
            for argv, err in zip(argvs, errs, strict=True)
        ]
        for proc in procs:
            assert proc.stdout is not None
            while (line := proc.stdout.readline()) and line.strip() != READY:
                pass
        go = time.time()
        for proc in procs:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # a child that died before its go
                proc.stdin.write("go\n")
                proc.stdin.close()
        results: list[dict[str, Any] | str] = []
        for i, (proc, err) in enumerate(zip(procs, errs, strict=True)):
            stdout = proc.stdout.read() if proc.stdout is not None else ""
            proc.wait()
            err.seek(0)
            try:
                results.append(_result(proc.returncode, stdout, err.read(), f"{what} #{i}"))
            except RuntimeError as exc:
                results.append(str(exc))
    return go, results


@dataclass
class Run:
    seconds: float
    process_seconds: float
    maxrss_mb: float
    rchar: int | None
    requests: dict[str, int] | None = None  # condafarm's own IndexReport.requests
    summary: dict[str, int] | None = None
    proxy: dict[str, Any] | None = None


def measure(tool: str, kind: str, target: str, endpoint: str | None, proxy: S3Proxy | None) -> Run:
    """One index by `tool` of a `kind` ("local" or "s3") channel in a fresh process; with `proxy`, what it saw."""
    if proxy is not None:
        proxy.tally.reset()
    raw, elapsed = run_child(
        [tool, kind, target, *([endpoint] if endpoint else [])], f"{tool} {kind} index of {target}"
    )
    return Run(
        seconds=raw["seconds"],
        process_seconds=elapsed,
        maxrss_mb=raw["maxrss_mb"],
        rchar=raw.get("rchar"),
        requests=raw.get("requests"),
        summary=raw.get("summary"),
        proxy=proxy.tally.snapshot() if proxy is not None else None,
    )
