"""The index cases: cold, incremental and no-op index runs of condafarm and py-rattler on a folder or S3."""

from __future__ import annotations

import json
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from channels import Buckets, Pool, place
from common import PREFIX, SUBDIRS
from measure import Run, measure
from support.proxy import S3Proxy

STEPS = ("cold", "incremental", "no-op")


@dataclass
class Case:
    title: str
    kind: str  # "local" | "s3"
    count: int
    new_size: int  # bytes of the package added before the incremental run
    total_size: int
    runs: dict[str, dict[str, list[Run]]] = field(default_factory=dict)  # tool -> step -> runs
    check: list[str] = field(default_factory=list)

    def best(self, tool: str, step: str) -> Run:
        """The median run by index seconds (with --repeat > 1)."""
        runs = sorted(self.runs[tool][step], key=lambda r: r.seconds)
        return runs[(len(runs) - 1) // 2]

    def seconds(self, tool: str, step: str) -> float:
        return statistics.median(r.seconds for r in self.runs[tool][step])


def records_in(repodata: bytes) -> dict[str, str]:
    data = json.loads(repodata)
    out = {}
    for table in ("packages", "packages.conda"):
        for fn, rec in (data.get(table) or {}).items():
            out[fn] = rec.get("sha256")
    return out


def run_local_case(title: str, pool: Pool, count: int, work: Path, repeat: int) -> Case:
    paths = pool.ensure(count + 1)
    base, extra = paths[:count], paths[count]
    case = Case(title, "local", count, extra.stat().st_size, sum(p.stat().st_size for p in base))
    seen: dict[str, dict[str, str]] = {}
    for tool in ("condafarm", "rattler"):
        case.runs[tool] = {s: [] for s in STEPS}
        for rep in range(repeat):
            channel = work / f"local-{tool}-{count}-{rep}"
            shutil.rmtree(channel, ignore_errors=True)
            for s in SUBDIRS:
                (channel / s).mkdir(parents=True)
            place(base, pool.root, channel)
            case.runs[tool]["cold"].append(measure(tool, "local", str(channel), None, None))
            place([extra], pool.root, channel)
            case.runs[tool]["incremental"].append(measure(tool, "local", str(channel), None, None))
            case.runs[tool]["no-op"].append(measure(tool, "local", str(channel), None, None))
            recs: dict[str, str] = {}
            for s in SUBDIRS:
                recs.update(records_in((channel / s / "repodata.json").read_bytes()))
            seen[tool] = recs
            shutil.rmtree(channel)
        print(f"    {tool}: done", flush=True)
    verify(case.check, seen, count + 1)
    return case


def run_s3_case(title: str, pool: Pool, count: int, buckets: Buckets, proxy: S3Proxy | None, repeat: int) -> Case:
    paths = pool.ensure(count + 1)
    base, extra = paths[:count], paths[count]
    case = Case(title, "s3", count, extra.stat().st_size, sum(p.stat().st_size for p in base))
    endpoint = proxy.url if proxy is not None else buckets.url
    seen: dict[str, dict[str, str]] = {}
    for tool in ("condafarm", "rattler"):
        case.runs[tool] = {s: [] for s in STEPS}
        for _ in range(repeat):
            bucket = buckets.new(f"{tool[:2]}{count}")
            t0 = time.monotonic()
            buckets.upload(bucket, base, pool.root)
            upload_s = time.monotonic() - t0
            url = f"s3://{bucket}/{PREFIX}"
            case.runs[tool]["cold"].append(measure(tool, "s3", url, endpoint, proxy))
            buckets.upload(bucket, [extra], pool.root)
            case.runs[tool]["incremental"].append(measure(tool, "s3", url, endpoint, proxy))
            case.runs[tool]["no-op"].append(measure(tool, "s3", url, endpoint, proxy))
            seen[tool] = bucket_records(buckets, bucket)
            buckets.drop(bucket)
        print(f"    {tool}: done (upload of {count} packages took {upload_s:.1f}s, not timed)", flush=True)
    verify(case.check, seen, count + 1)
    return case


def bucket_records(buckets: Buckets, bucket: str) -> dict[str, str]:
    """sha256 by filename of every record in the channel's `repodata.json` files."""
    recs: dict[str, str] = {}
    for s in SUBDIRS:
        body = buckets.client.get_object(Bucket=bucket, Key=f"{PREFIX}/{s}/repodata.json")["Body"].read()
        recs.update(records_in(body))
    return recs


def verify(check: list[str], seen: dict[str, dict[str, str]], expected: int) -> None:
    """Add to `check` what is wrong with the records each tool wrote."""
    for tool, recs in seen.items():
        if len(recs) != expected:
            check.append(f"{tool}: {len(recs)} records in repodata.json, expected {expected}")
    a, b = seen.get("condafarm", {}), seen.get("rattler", {})
    if a and b and a != b:
        diff = sorted(set(a.items()) ^ set(b.items()))[:3]
        check.append(f"condafarm and rattler disagree on {len(set(a.items()) ^ set(b.items()))} records: {diff}")


@dataclass
class Noop:
    """No-op index runs of both tools on an S3 channel of `count` packages, with the listing floor."""

    count: int
    #: ListObjectsV2 requests a no-op needs at least: one for the channel root (to find the subdirs), and the
    #: pages a sequential listing of each subdir folder of condafarm's channel takes
    floor: int
    runs: dict[str, list[Run]] = field(default_factory=dict)
    check: list[str] = field(default_factory=list)

    def median(self, tool: str) -> Run:
        runs = sorted(self.runs[tool], key=lambda r: r.seconds)
        return runs[(len(runs) - 1) // 2]


def listing_floor(buckets: Buckets, bucket: str) -> int:
    """1 + the sum over subdirs of ceil(entries / 1000): the root listing, and the pages a sequential listing of
    each folder takes (entries are its keys and sub-folders, as ListObjectsV2 with a delimiter counts them)."""
    floor = 1
    for s in SUBDIRS:
        pages = buckets.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{PREFIX}/{s}/", Delimiter="/"
        )
        entries = sum(len(p.get("Contents", ())) + len(p.get("CommonPrefixes", ())) for p in pages)
        floor += -(-entries // 1000)
    return floor


def run_noop(pool: Pool, sizes: list[int], buckets: Buckets, proxy: S3Proxy, repeat: int) -> tuple[str, bool]:
    """For each size and tool: a fresh channel, a cold index (not reported), then `repeat` timed no-op indexes.

    Returns the printed report and whether every check passed (both tools indexed every package alike)."""
    from report import fmt_bytes, table  # here: report.py imports this module

    paths = pool.ensure(max(sizes))
    results: list[Noop] = []
    for n in sizes:
        noop = Noop(n, 0)
        seen: dict[str, dict[str, str]] = {}
        for tool in ("condafarm", "rattler"):
            bucket = buckets.new(f"noop{tool[:2]}{n}")
            t0 = time.monotonic()
            buckets.upload(bucket, paths[:n], pool.root)
            upload_s = time.monotonic() - t0
            url = f"s3://{bucket}/{PREFIX}"
            cold = measure(tool, "s3", url, proxy.url, proxy)
            noop.runs[tool] = [measure(tool, "s3", url, proxy.url, proxy) for _ in range(repeat)]
            if tool == "condafarm":
                noop.floor = listing_floor(buckets, bucket)
            print(
                f"    {tool} {n}: upload {upload_s:.0f}s, cold index "
                f"{cold.seconds:.1f}s, no-op median {noop.median(tool).seconds:.3f}s",
                flush=True,
            )
            seen[tool] = bucket_records(buckets, bucket)
            buckets.drop(bucket)
        verify(noop.check, seen, n)
        results.append(noop)
    rows = []
    for r in results:
        cf, rt = r.median("condafarm"), r.median("rattler")
        assert cf.proxy is not None and rt.proxy is not None
        lists = cf.proxy["ops"].get("ListObjectsV2", 0)
        rows.append(
            [
                str(r.count),
                str(lists),
                str(r.floor),
                f"{lists / r.floor:.2f}",
                str(cf.proxy["requests"]),
                str(rt.proxy["requests"]),
                fmt_bytes(cf.proxy["bytes_read"]),
                f"{cf.seconds:.3f}",
                f"{rt.seconds:.3f}",
                f"{cf.seconds / rt.seconds:.2f}",
            ]
        )
    header = ["packages", "LIST cf", "floor", "LIST/floor", "req cf", "req rt", "read cf"]
    header += ["condafarm s", "rattler s", "ratio"]
    lines = [
        f"\n== S3 no-op index (median of {repeat}); floor = 1 + sum over subdirs of ceil(entries / 1000)",
        table(rows, header),
    ]
    for r in results:
        ops = r.median("condafarm").proxy or {}
        lines.append(f"  {r.count}: condafarm " + ", ".join(f"{k}={v}" for k, v in sorted(ops["ops"].items())))
        lines += [f"  CHECK FAILED: {msg}" for msg in r.check]
    text = "\n".join(lines)
    print(text, flush=True)
    return text, not any(r.check for r in results)
