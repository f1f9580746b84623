"""Benchmark: publishing one package into a subdir of 1,000 / 10,000 / 100,000 records on S3.

A dev channel grows to 100,000 builds (5,000 names x 20 builds); a publish should cost about the same at any
size. For each size a fresh bucket on moto gets a synthetic subdir of that many records, committed with
condafarm's own writer (`Buckets.fill`: `repodata.json`, `.zst`, CEP-16 shards, `run_exports.json`, as a real
channel has them; no package files, which publish never reads). Then `repeat` real packages, each a new
version of another of the channel's names, are published one after another, each in a fresh child process
(`measure.publish_child`) behind the counting proxy. Reported, median of the repeats: requests, bytes moved
(sent + received: package upload vs metadata), seconds of the publish call and of the whole child, and the
ratios of the largest and middle size to the smallest. Target (issue 15): the largest within 1.5x of the
smallest, for bytes and seconds.

usage: python bench/run.py --scale-only [--scale-sizes 1000,10000,100000] [--repeat 3]
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from channels import RECORDS_PER_NAME, Buckets, missing_from_index, synthetic_name, synthetic_repodata
from common import PREFIX
from measure import run_child
from report import fmt_bytes, table
from support.packages import make_package
from support.proxy import S3Proxy

SCALING_TARGET = 1.5


@dataclass
class ScalePublish:
    records: int
    seconds: float  # the publish call
    process_seconds: float  # the whole child
    requests: int
    package_bytes: int  # sent and received for package files
    metadata_bytes: int  # sent and received for everything else
    ops: dict[str, int]
    by_key: dict[str, int]  # bytes sent + received, by key pattern
    in_json: bool  # already in repodata.json when publish returned
    problems: list[str] = field(default_factory=list)

    @property
    def moved(self) -> int:
        return self.package_bytes + self.metadata_bytes


def _publish(buckets: Buckets, proxy: S3Proxy, bucket: str, package: Path, records: int) -> ScalePublish:
    from condafarm.storage import open_storage

    subdir = package.parent.name
    proxy.tally.reset()
    raw, elapsed = run_child(
        ["publish", "condafarm", f"s3://{bucket}/{PREFIX}", proxy.url, str(package), subdir],
        f"publish into {records} records",
    )
    seen = proxy.tally.snapshot()
    by_key: dict[str, int] = {}
    for moved in (seen["sent_by_key"], seen["received_by_key"]):
        for key, n in moved.items():
            by_key[key] = by_key.get(key, 0) + n
    package_bytes = sum(n for key, n in by_key.items() if key.endswith((".conda", ".tar.bz2")))
    # Only the shards must hold it at once: a large subdir's repodata.json may be compacted later (issue 15).
    missing = missing_from_index(open_storage(buckets.channel(bucket)), subdir, [package.name])
    return ScalePublish(
        records=records,
        seconds=raw["seconds"],
        process_seconds=elapsed,
        requests=int(seen["requests"]),
        package_bytes=package_bytes,
        metadata_bytes=int(seen["bytes_sent"]) + int(seen["bytes_received"]) - package_bytes,
        ops=dict(seen["ops"]),
        by_key=by_key,
        in_json=not missing["repodata.json"],
        problems=[f"{package.name} not in the shards"] if missing["shards"] else [],
    )


def _median(runs: list[ScalePublish]) -> ScalePublish:
    """The run of median seconds, with the median of each other figure (bytes hardly vary between runs)."""
    middle = sorted(runs, key=lambda r: r.seconds)[(len(runs) - 1) // 2]
    return ScalePublish(
        records=middle.records,
        seconds=middle.seconds,
        process_seconds=statistics.median(r.process_seconds for r in runs),
        requests=int(statistics.median(r.requests for r in runs)),
        package_bytes=int(statistics.median(r.package_bytes for r in runs)),
        metadata_bytes=int(statistics.median(r.metadata_bytes for r in runs)),
        ops=middle.ops,
        by_key=middle.by_key,
        in_json=all(r.in_json for r in runs),
        problems=[p for r in runs for p in r.problems],
    )


def run_scale(buckets: Buckets, proxy: S3Proxy, sizes: list[int], work: Path, repeat: int) -> tuple[str, bool]:
    """Measure every size; returns the printed report and whether every published file landed."""
    subdir = "linux-64"
    results: list[ScalePublish] = []
    json_sizes: dict[int, int] = {}
    for records in sizes:
        started = time.monotonic()
        bucket = buckets.new(f"scale{records}")
        buckets.fill(bucket, synthetic_repodata(subdir, records), proxy.url)
        key = f"{PREFIX}/{subdir}/repodata.json"
        json_sizes[records] = int(buckets.client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        filled = time.monotonic() - started
        names = max(1, records // RECORDS_PER_NAME)
        runs = []
        for r in range(repeat):
            name = synthetic_name(r * names // repeat)  # a different name, and so shard, each time
            package = make_package(work / f"scale{records}", name, f"2.{r}", 0, subdir)
            runs.append(_publish(buckets, proxy, bucket, package, records))
        results.append(_median(runs))
        buckets.drop(bucket)
        print(f"    publish into {records} records: filled in {filled:.0f}s, published {repeat}x", flush=True)
    return _report(results, json_sizes, subdir)


def _report(results: list[ScalePublish], json_sizes: dict[int, int], subdir: str) -> tuple[str, bool]:
    rows = [
        [
            str(r.records),
            fmt_bytes(json_sizes[r.records]),
            str(r.requests),
            fmt_bytes(r.moved),
            fmt_bytes(r.package_bytes),
            fmt_bytes(r.metadata_bytes),
            f"{r.seconds:.3f}",
            f"{r.process_seconds:.2f}",
            "yes" if r.in_json else "not yet",
        ]
        for r in results
    ]
    header = ["records", "repodata.json", "requests", "moved", "package", "metadata", "publish s", "proc s"]
    header.append("in repodata.json")
    lines = [
        f"\n== publish one package into {subdir}/ of N records on S3 (median of the repeats; moved = sent + received)",
        table(rows, header),
    ]
    base = results[0]
    for r in results[1:]:
        by_bytes, by_seconds = r.moved / base.moved, r.seconds / base.seconds
        worst = max(by_bytes, by_seconds)
        lines.append(
            f"{r.records} / {base.records}: bytes {by_bytes:.2f}, seconds {by_seconds:.2f}  (target <= "
            f"{SCALING_TARGET} {'ok' if worst <= SCALING_TARGET else 'MISSED'})"
        )
    lines += [f"{r.records}: {dict(sorted(r.ops.items()))}" for r in results]
    largest = sorted(results[-1].by_key.items(), key=lambda kv: -kv[1])[:6]
    lines.append(f"{results[-1].records}, bytes by key: " + ", ".join(f"{k} {fmt_bytes(n)}" for k, n in largest))
    lines += [f"  {r.records} CHECK FAILED: {p}" for r in results for p in r.problems]
    text = "\n".join(lines)
    print(text, flush=True)
    return text, not any(r.problems for r in results)
