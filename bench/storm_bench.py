"""Benchmark: a publish storm, P publishers at once into one subdir of an S3 channel of 2,000 packages.

A whole render farm finishing its builds publishes at the same moment. For each P (default 1, 8, 32, 64) a
fresh bucket on moto gets a synthetic channel of `--storm-size` records in one subdir (condafarm's own writer,
with a placeholder object of the right size at every record's key so `check` finds it whole), then P real
packages (each a new version of one of the channel's names) are published by P child processes started
together: every child imports, says it is ready and waits for the parent's go (`measure.run_together`), so
process start-up is not measured. Everything goes through the counting proxy.

Reported per P: whether every file landed (in `repodata.json`, in its name's CEP-16 shard, found by
py-rattler's gateway, and `check_channel` clean), wall time from the go to the last publish's end, requests,
failed conditional writes (412 answers) and full rewrites of `SUBDIR/repodata.json` (successful PUTs).
Goals: requests per publish at the largest P within 2x of P=1; repodata rewrites far below P.

usage: python bench/run.py --storm-only [--storm-ps 1,8,32,64] [--storm-size 2000]
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from channels import Buckets, missing_from_index, rattler_misses, synthetic_name, synthetic_repodata
from common import PREFIX
from measure import run_together
from report import table
from support.packages import make_package
from support.proxy import S3Proxy

REQUESTS_RATIO_TARGET = 2.0
#: "far below P", read as at most a quarter of the publishes rewriting repodata.json
REWRITES_RATIO_TARGET = 0.25


@dataclass
class Storm:
    publishers: int
    wall: float
    seconds: list[float]
    requests: int
    conflicts: int  # 412 answers: conditional writes that lost a race
    rewrites: int  # successful PUTs of SUBDIR/repodata.json
    index_writes: int  # successful PUTs of SUBDIR/repodata_shards.msgpack.zst
    conflicts_by_key: dict[str, int] = field(default_factory=dict)  # 412s by "OPERATION KEY-PATTERN"
    failed: list[str] = field(default_factory=list)  # errors of publishers that failed (a goal missed)
    landed: int = 0  # files in repodata.json and in their shard
    problems: list[str] = field(default_factory=list)  # what verification found wrong (a correctness failure)

    @property
    def per_publish(self) -> float:
        return self.requests / self.publishers


def _storm(buckets: Buckets, proxy: S3Proxy, publishers: int, size: int, subdir: str, work: Path) -> Storm:
    started = time.monotonic()
    bucket = buckets.new(f"storm{publishers}")
    repodata = synthetic_repodata(subdir, size)
    buckets.fill(bucket, repodata, proxy.url, placeholders=True)
    names = len({r["name"] for r in repodata.records().values()})
    packages = [
        make_package(work / f"storm{publishers}", synthetic_name(i % names), f"2.{i}", 0, subdir)
        for i in range(publishers)
    ]
    filled = time.monotonic()
    url = f"s3://{bucket}/{PREFIX}"
    argvs = [["publish", "condafarm", url, proxy.url, str(p), subdir, "--together"] for p in packages]
    proxy.tally.reset()  # children make no request before their go
    go, results = run_together(argvs, f"storm publisher into {url}")
    tally = proxy.tally
    exchanges = tally.snapshot()["exchanges"]
    done = [r for r in results if isinstance(r, dict)]
    storm = Storm(
        publishers=publishers,
        wall=max((r["end"] for r in done), default=go) - go,
        seconds=[r["seconds"] for r in done],
        requests=tally.count(),
        conflicts=tally.count(status=412),
        rewrites=tally.count("PutObject", f"/{subdir}/repodata.json", 200),
        index_writes=tally.count("PutObject", f"/{subdir}/repodata_shards.msgpack.zst", 200),
        conflicts_by_key={k[: -len(" 412")]: n for k, n in exchanges.items() if k.endswith(" 412")},
        failed=[r.splitlines()[-1] for r in results if isinstance(r, str)],
    )
    stormed = time.monotonic()
    succeeded = [p.name for p, r in zip(packages, results, strict=True) if isinstance(r, dict)]
    storm.landed, storm.problems = _verify(buckets, bucket, subdir, [p.name for p in packages], succeeded)
    buckets.drop(bucket)
    print(
        f"    storm of {publishers}: filled in {filled - started:.0f}s, storm {stormed - filled:.0f}s (with start-up),"
        f" verified in {time.monotonic() - stormed:.0f}s",
        flush=True,
    )
    return storm


def _verify(
    buckets: Buckets, bucket: str, subdir: str, filenames: list[str], succeeded: list[str]
) -> tuple[int, list[str]]:
    """How many of `filenames` are in repodata.json and in their shard, and what is wrong: a file whose publisher
    succeeded that is missing from either or that py-rattler cannot find, or a problem `check_channel` reports."""
    from condafarm import check_channel
    from condafarm.storage import open_storage

    storage = open_storage(buckets.channel(bucket))
    missing = missing_from_index(storage, subdir, filenames)
    landed = len(set(filenames).difference(*missing.values()))
    problems = [
        f"{len(lost)} published (exit 0) but not in {where}: {', '.join(lost[:3])}"
        for where, absent in missing.items()
        if (lost := [f for f in succeeded if f in absent])
    ]
    unseen = rattler_misses(buckets.public_url(bucket), subdir, succeeded) if succeeded else []
    if unseen:
        problems.append(f"{len(unseen)} published but not found by py-rattler: {', '.join(unseen[:3])}")
    problems += [f"check: {p}" for p in check_channel(storage).problems]
    return landed, problems


def run_storm(buckets: Buckets, proxy: S3Proxy, ps: list[int], size: int, work: Path) -> tuple[str, bool]:
    """Measure a storm of each size in `ps`; returns the printed report and whether verification passed (a
    publisher that failed with an error misses the goal "all land" but is no correctness failure)."""
    subdir = "linux-64"
    storms = [_storm(buckets, proxy, publishers, size, subdir, work) for publishers in ps]
    return _report(storms, size, subdir)


def _report(storms: list[Storm], size: int, subdir: str) -> tuple[str, bool]:
    base = storms[0]
    rows = [
        [
            str(s.publishers),
            f"{s.landed}/{s.publishers}",
            str(len(s.failed)),
            f"{s.wall:.2f}",
            f"{statistics.median(s.seconds):.2f}/{max(s.seconds):.2f}" if s.seconds else "n/a",
            str(s.requests),
            f"{s.per_publish:.1f}",
            f"{s.per_publish / base.per_publish:.2f}",
            str(s.conflicts),
            str(s.rewrites),
            f"{s.rewrites / s.publishers:.2f}",
            str(s.index_writes),
        ]
        for s in storms
    ]
    header = [
        "P",
        "landed",
        "failed",
        "wall s",
        "publish s med/max",
        "requests",
        "req/publish",
        f"vs P={base.publishers}",
    ]
    header += ["412s", "repodata.json PUTs", "PUTs/P", "shard index PUTs"]
    last = storms[-1]
    ratio, rewrites = last.per_publish / base.per_publish, last.rewrites / last.publishers
    all_landed = all(s.landed == s.publishers for s in storms)
    lines = [
        f"\n== publish storm: P publishers at once into {subdir}/ of an S3 channel of {size} records "
        "(one process each, started together)",
        table(rows, header),
        f"requests per publish at P={last.publishers} / P={base.publishers}: {ratio:.2f}  "
        f"(target <= {REQUESTS_RATIO_TARGET:.0f} {'ok' if ratio <= REQUESTS_RATIO_TARGET else 'MISSED'})",
        f"all landed: {'ok' if all_landed else 'MISSED'}",
        f"repodata.json rewrites at P={last.publishers}: {last.rewrites} = {rewrites:.2f} x P  "
        f"(target <= {REWRITES_RATIO_TARGET} {'ok' if rewrites <= REWRITES_RATIO_TARGET else 'MISSED'})",
    ]
    for s in storms:
        if s.conflicts_by_key:
            by_key = sorted(s.conflicts_by_key.items(), key=lambda kv: -kv[1])
            lines.append(f"P={s.publishers} 412s: " + ", ".join(f"{k} {n}" for k, n in by_key))
    for s in storms:
        lines += [f"P={s.publishers} publisher failed: {f}" for f in s.failed]
        lines += [f"  P={s.publishers} CHECK FAILED: {p}" for p in s.problems]
    text = "\n".join(lines)
    print(text, flush=True)
    return text, not any(s.problems for s in storms)
