"""Benchmark: `prune` of an S3 channel of 10,000 builds (requests and seconds of each phase).

The channel is 100 names x 100 builds of one version, spread over three subdirs, one build a day. Its repodata
is made from one real package's record (as the publish tests make theirs); each record's key holds a placeholder
object of the record's size (~1 kB) rather than a package, because prune never reads a package's bytes, only
deletes it.
`prune --keep 5` is then timed three times through the counting proxy: the dry run, the yank (`--yes`), and
the delete of the yanked files by a second prune once the grace period is over (`--grace-hours 0`).

usage: python bench/run.py --prune-only [--prune-builds 10000]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from channels import Buckets, record_template
from common import PREFIX, SUBDIRS
from report import fmt_bytes, table
from support.proxy import S3Proxy

BUILDS_PER_NAME = 100
KEEP = 5


@dataclass
class Phase:
    name: str
    files: int
    seconds: float
    ops: dict[str, int]
    bytes_read: int
    repodata_bytes: int


def _fill(buckets: Buckets, bucket: str, proxy_url: str, builds: int) -> Any:
    """Commit the synthetic repodata (through the proxy, untimed) and put a placeholder at every record's key."""
    from condafarm.conda.repodata import Repodata

    template, now = record_template(), time.time()
    tables = {subdir: Repodata(subdir=subdir) for subdir in SUBDIRS}
    for i in range(builds):
        n, b = i // BUILDS_PER_NAME, i % BUILDS_PER_NAME
        subdir, stamp = SUBDIRS[n % len(SUBDIRS)], int((now - (BUILDS_PER_NAME - b) * 86400) * 1000)
        record = {**template, "name": f"pkg{n:03d}", "version": "1.0", "build": f"h0_{b}", "build_number": b}
        tables[subdir].set(f"pkg{n:03d}-1.0-h0_{b}.conda", {**record, "timestamp": stamp, "subdir": subdir})
    for repodata in tables.values():
        buckets.fill(bucket, repodata, proxy_url, placeholders=True)
    return buckets.channel(bucket, proxy_url)


def _repodata_bytes(buckets: Buckets, bucket: str) -> int:
    return sum(
        int(buckets.client.head_object(Bucket=bucket, Key=f"{PREFIX}/{s}/repodata.json")["ContentLength"])
        for s in SUBDIRS
    )


def _phase(name: str, proxy: S3Proxy, buckets: Buckets, bucket: str, channel: Any, **options: Any) -> Phase:
    from condafarm import open_storage, prune_channel

    storage = open_storage(channel)  # a new boto3 client, made before the clock starts (~0.5 s here)
    proxy.tally.reset()
    t0 = time.perf_counter()
    report = prune_channel(storage, keep=KEEP, **options)
    seconds = time.perf_counter() - t0
    seen = proxy.tally.snapshot()
    files = len(report.deleted) if report.deleted else len(report.yanked)
    return Phase(name, files, seconds, dict(seen["ops"]), int(seen["bytes_read"]), _repodata_bytes(buckets, bucket))


def run_prune(buckets: Buckets, proxy: S3Proxy, builds: int) -> str:
    """Measure the three phases on a channel of `builds` builds; returns the printed report."""
    import condafarm.storage.s3  # noqa: F401  (boto3 is imported before any clock starts)

    bucket = buckets.new("prune")
    started = time.monotonic()
    channel = _fill(buckets, bucket, proxy.url, builds)
    print(f"    filled {builds} builds in {time.monotonic() - started:.0f}s", flush=True)
    before = _repodata_bytes(buckets, bucket)
    phases = [
        _phase("dry run", proxy, buckets, bucket, channel),
        _phase("yank (--yes)", proxy, buckets, bucket, channel, yes=True),
        _phase("delete (grace over)", proxy, buckets, bucket, channel, yes=True, grace_hours=0),
    ]
    buckets.drop(bucket)
    rows = [
        [
            p.name,
            str(p.files),
            str(sum(p.ops.values())),
            str(sum(v for k, v in p.ops.items() if k.startswith("Delete"))),
            str(sum(v for k, v in p.ops.items() if k.startswith("Put"))),
            f"{p.seconds:.2f}",
            fmt_bytes(p.bytes_read),
            fmt_bytes(p.repodata_bytes),
        ]
        for p in phases
    ]
    header = ["phase", "files", "requests", "DELETE", "PUT", "seconds", "read", "repodata after"]
    names = builds // BUILDS_PER_NAME
    lines = [
        f"\n== prune --keep {KEEP} of an S3 channel of {builds} builds ({names} names x {BUILDS_PER_NAME} builds, "
        f"{len(SUBDIRS)} subdirs; repodata.json {fmt_bytes(before)} before)",
        table(rows, header),
        *(f"{p.name}: {dict(sorted(p.ops.items()))}" for p in phases),
    ]
    text = "\n".join(lines)
    print(text, flush=True)
    return text
