"""Benchmark: publishing one package into S3 channels of 50, 500 and 5000 packages.

condafarm's `publish` against the peer's way (upload the file, then py-rattler `index_s3` the channel),
both on moto's server behind the counting proxy, each timed in a fresh child process (`measure.publish_child`).
Targets: condafarm at 5000 within 1.3x of condafarm at 50; the peer at least 5x slower at 5000.

usage: python bench/run.py --publish-only [--publish-sizes 50,500,5000]   (also part of a full run)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from channels import Buckets, Pool
from common import PREFIX
from measure import measure, run_child
from report import fmt_bytes, table
from support.proxy import S3Proxy

PUBLISH_SCALING_TARGET = 1.3
PEER_SPEEDUP_TARGET = 5.0


@dataclass
class Publish:
    tool: str
    size: int
    seconds: float
    requests: int
    ops: dict[str, int]
    bytes_read: int


def _measure(tool: str, url: str, proxy: S3Proxy, package: Path, size: int) -> Publish:
    proxy.tally.reset()
    args = ["publish", tool, url, proxy.url, str(package), package.parent.name]
    raw, _ = run_child(args, f"{tool} publish into {url}")
    seen = proxy.tally.snapshot()
    return Publish(
        tool=tool,
        size=size,
        seconds=raw["seconds"],
        requests=int(seen["requests"]),
        ops=dict(seen["ops"]),
        bytes_read=int(seen["bytes_read"]),
    )


def run_publish(pool: Pool, sizes: list[int], buckets: Buckets, proxy: S3Proxy, repeat: int) -> tuple[str, bool]:
    """Measure every size for both tools; returns the printed report and whether both targets were met.

    Each tool publishes `repeat` different new packages one after another into its channel; seconds are the
    median (a publish is ~16 requests of a few ms, so single runs vary by tens of milliseconds on moto).
    """
    paths = pool.ensure(max(sizes) + repeat)
    newcomers = paths[max(sizes) : max(sizes) + repeat]
    results: list[Publish] = []
    for size in sizes:
        for tool in ("condafarm", "rattler"):
            bucket = buckets.new(f"pub{tool[:2]}{size}")
            url = f"s3://{bucket}/{PREFIX}"
            buckets.upload(bucket, paths[:size], pool.root)
            # indexed untimed by the tool under test, so each publishes into its own kind of channel
            measure(tool, "s3", url, buckets.url, None)
            runs = [_measure(tool, url, proxy, package, size) for package in newcomers]
            results.append(sorted(runs, key=lambda r: r.seconds)[(len(runs) - 1) // 2])
            buckets.drop(bucket)
        print(f"    publish into {size}: done", flush=True)
    return _report(results, sizes)


def _report(results: list[Publish], sizes: list[int]) -> tuple[str, bool]:
    by = {(r.tool, r.size): r for r in results}
    rows = []
    for size in sizes:
        cf, rt = by[("condafarm", size)], by[("rattler", size)]
        rows.append(
            [
                str(size),
                f"{cf.seconds:.3f}",
                f"{rt.seconds:.3f}",
                f"{rt.seconds / cf.seconds:.1f}x",
                str(cf.requests),
                str(rt.requests),
                fmt_bytes(cf.bytes_read),
                fmt_bytes(rt.bytes_read),
                str(sum(v for k, v in cf.ops.items() if k.startswith("List"))),
            ]
        )
    header = ["channel", "condafarm s", "upload+index_s3 s", "peer/cf", "req cf", "req rt", "read cf", "read rt"]
    header.append("LIST cf")
    small, large = by[("condafarm", min(sizes))], by[("condafarm", max(sizes))]
    scaling = large.seconds / small.seconds
    speedup = by[("rattler", max(sizes))].seconds / large.seconds
    ok = scaling <= PUBLISH_SCALING_TARGET and speedup >= PEER_SPEEDUP_TARGET
    lines = [
        "\n== publish one package into an S3 channel of N packages (condafarm publish vs upload + index_s3; median)",
        table(rows, header),
        f"condafarm {max(sizes)} / {min(sizes)}: {scaling:.2f}  (target <= {PUBLISH_SCALING_TARGET} "
        f"{'ok' if scaling <= PUBLISH_SCALING_TARGET else 'MISSED'})",
        f"peer / condafarm at {max(sizes)}: {speedup:.1f}x  (target >= {PEER_SPEEDUP_TARGET:.0f}x "
        f"{'ok' if speedup >= PEER_SPEEDUP_TARGET else 'MISSED'})",
    ]
    text = "\n".join(lines)
    print(text, flush=True)
    return text, ok
