"""Benchmark: what a render host moves to enter an environment from an S3 channel of 2,000 / 20,000 / 100,000
records, against the floor and against py-rattler alone.

For each size a fresh bucket on moto gets a channel of noarch + linux-64 holding that many records in total
(`support.render_channel`: the render job's two real packages among synthetic records, committed directly with
condafarm's writer, so 100,000 records take seconds), and every session is a fresh `condafarm` process behind
the counting proxy:

- cold: `env enter --packages render-tool` on an empty host cache;
- warm: the same host solving again (`--update-after-minutes 0`), nothing published since;
- warm after a publish: the same, after one unrelated package was published into linux-64;
- job record, new host / env on host: a later session of the job on another host, then again on that host;
- lockfile, new host / env on host: `env enter --lockfile` with the cold session's lockfile;
- py-rattler alone (its own S3 client, shards on: `support/rattler_client.py install`), the peer.

The floor is what a cold host must fetch at least: both shard indexes, the closure's shards and the package
files. Seconds are each whole process (interpreter start-up and imports included). The unrelated publish is
measured too, with and without compacting `repodata.json` before it returns (`CONDAFARM_COMPACT_BYTES`).

usage: python bench/run.py --env-only [--env-sizes 2000,20000,100000] [--repeat 3]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from channels import Buckets
from common import PREFIX, ROOT, child_env
from report import fmt_bytes, table
from support.packages import make_package
from support.proxy import S3Proxy
from support.render_channel import REQUEST, Floor, fill_render_channel, floor

#: The issue's goal for a cold host: at most this many times the floor's bytes.
COLD_TARGET = 1.25


@dataclass
class Session:
    records: int
    case: str
    requests: int
    bytes: int
    seconds: float
    ok: bool


def _env(proxy: S3Proxy, cache: Path, **extra: str) -> dict[str, str]:
    return {
        **child_env(),
        "S3_ENDPOINT_URL": proxy.url,
        "S3_REGION": "us-east-1",
        "S3_FORCE_PATH_STYLE": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CONDAFARM_ENV_CACHE": str(cache),
        **extra,
    }


def _measure(proxy: S3Proxy, records: int, case: str, argv: list[str], env: dict[str, str]) -> Session:
    proxy.tally.reset()
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800, check=False)
    seconds = time.perf_counter() - started
    seen = proxy.tally.snapshot()
    if proc.returncode != 0:
        print(f"  {case} at {records}: exit {proc.returncode}: {proc.stderr.strip()[-400:]}", flush=True)
    return Session(records, case, seen["requests"], seen["bytes_received"], seconds, proc.returncode == 0)


def _publish(proxy: S3Proxy, bucket: str, package: Path, compact: bool) -> tuple[int, int]:
    """Requests and bytes (both ways) of publishing `package` through the proxy, compacting `repodata.json`
    before returning or leaving it to `index`, whatever the default for the subdir's size."""
    from condafarm import S3Options, parse_channel, publish

    options = S3Options(endpoint_url=proxy.url, region="us-east-1", addressing_style="path")
    saved = os.environ.get("CONDAFARM_COMPACT_BYTES")
    os.environ["CONDAFARM_COMPACT_BYTES"] = str(2**40) if compact else "0"
    try:
        proxy.tally.reset()
        publish(parse_channel(f"s3://{bucket}/{PREFIX}", options), [package])
        seen = proxy.tally.snapshot()
    finally:
        os.environ.pop("CONDAFARM_COMPACT_BYTES", None)
        if saved is not None:
            os.environ["CONDAFARM_COMPACT_BYTES"] = saved
    return seen["requests"], seen["bytes_sent"] + seen["bytes_received"]


def _one_size(buckets: Buckets, proxy: S3Proxy, records: int, work: Path) -> tuple[Floor, list[Session], list[str]]:
    from condafarm.storage import open_storage

    bucket = buckets.new(f"env{records}")
    started = time.perf_counter()
    fill_render_channel(open_storage(buckets.channel(bucket)), work / "build", records // 2)
    print(f"  {records} records written in {time.perf_counter() - started:.1f}s", flush=True)
    least = floor(buckets.client, bucket, PREFIX)
    url = f"s3://{bucket}/{PREFIX}"
    cli = [sys.executable, "-m", "condafarm"]
    enter = [*cli, "env", "enter", "--packages", *REQUEST, "--channels", url]
    session_dir = work / "session"
    session_dir.mkdir()
    host = _env(proxy, work / "host")
    jobs = ["--job-records", f"s3://{bucket}/jobs", "--job-id", "job-1"]
    lockfile = str(session_dir / "condafarm-env.lock.txt")

    def run(case: str, argv: list[str], env: dict[str, str]) -> Session:
        return _measure(proxy, records, case, argv, env)

    sessions = [run("cold", [*enter, "--session-dir", str(session_dir)], host)]
    sessions.append(run("warm", [*enter, "--update-after-minutes", "0"], host))
    unrelated = [make_package(work / "more", f"comp-{i}", "1.0", subdir="linux-64") for i in range(2)]
    compacting = _publish(proxy, bucket, unrelated[0], compact=True)
    sessions.append(run("warm after a publish", [*enter, "--update-after-minutes", "0"], host))
    not_compacting = _publish(proxy, bucket, unrelated[1], compact=False)
    run("(job's first session)", [*enter, *jobs], _env(proxy, work / "first-host"))
    job_host = _env(proxy, work / "job-host")
    sessions.append(run("job record, new host", [*enter, *jobs], job_host))
    sessions.append(run("job record, env on host", [*enter, *jobs], job_host))
    lock_host = _env(proxy, work / "lock-host")
    by_lockfile = [*cli, "env", "enter", "--lockfile", lockfile]
    sessions.append(run("lockfile, new host", by_lockfile, lock_host))
    sessions.append(run("lockfile, env on host", by_lockfile, lock_host))
    peer = [sys.executable, str(ROOT / "tests/support/rattler_client.py"), "install", url, str(work / "peer")]
    sessions.append(run("py-rattler alone, shards on", [*peer, *REQUEST, "--endpoint", proxy.url], host))
    notes = [
        f"  publish of one package at {records}: {compacting[0]} requests, {fmt_bytes(compacting[1])} compacting "
        f"repodata.json; {not_compacting[0]} requests, {fmt_bytes(not_compacting[1])} leaving "
        "repodata.json to `index`"
    ]
    buckets.drop(bucket)
    return least, sessions, notes


def run_env(buckets: Buckets, proxy: S3Proxy, sizes: list[int], work: Path, repeat: int) -> tuple[str, bool]:
    """Every session at every size, `repeat` times on fresh buckets and hosts (seconds: the median; requests
    and bytes: the first run's, and every run must move the same); the report and whether every session
    succeeded and the cold ones met the target."""
    rows, notes, ok = [], [], True
    for records in sizes:
        print(f"\nenvironments from a channel of {records} records ...", flush=True)
        runs = []
        for attempt in range(repeat):
            folder = work / f"env-{records}-{attempt}"
            folder.mkdir()
            runs.append(_one_size(buckets, proxy, records, folder))
        least, sessions, said = runs[0]
        notes += said
        rows.append([f"{records:,}", "floor", str(least.requests), fmt_bytes(least.bytes), "", "1.00"])
        for i, s in enumerate(sessions):
            same = [run[1][i] for run in runs]
            s.seconds = statistics.median(r.seconds for r in same)
            s.ok = all(r.ok and (r.requests, r.bytes) == (s.requests, s.bytes) for r in same)
            ratio = s.bytes / least.bytes
            ok = ok and s.ok and (s.case != "cold" or ratio <= COLD_TARGET)
            rows.append(
                [f"{records:,}", s.case, str(s.requests), fmt_bytes(s.bytes), f"{s.seconds:.2f}", f"{ratio:.2f}"]
            )
    header = ["records", "session", "requests", "bytes", "seconds", "x floor"]
    text = "\n".join(
        [
            "",
            "Render hosts entering an environment (S3 on moto, through the counting proxy; bytes received; "
            f"seconds = the whole process, median of {repeat})",
            table(rows, header),
            *notes,
        ]
    )
    print(text, flush=True)
    return text, ok
