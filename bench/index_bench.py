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
    verify(case, seen, count + 1)
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
            recs: dict[str, str] = {}
            for s in SUBDIRS:
                body = buckets.client.get_object(Bucket=bucket, Key=f"{PREFIX}/{s}/repodata.json")["Body"].read()
                recs.update(records_in(body))
            seen[tool] = recs
            buckets.drop(bucket)
        print(f"    {tool}: done (upload of {count} packages took {upload_s:.1f}s, not timed)", flush=True)
    verify(case, seen, count + 1)
    return case


def verify(case: Case, seen: dict[str, dict[str, str]], expected: int) -> None:
    for tool, recs in seen.items():
        if len(recs) != expected:
            case.check.append(f"{tool}: {len(recs)} records in repodata.json, expected {expected}")
    a, b = seen.get("condafarm", {}), seen.get("rattler", {})
    if a and b and a != b:
        diff = sorted(set(a.items()) ^ set(b.items()))[:3]
        case.check.append(f"condafarm and rattler disagree on {len(set(a.items()) ^ set(b.items()))} records: {diff}")
