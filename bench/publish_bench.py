"""Benchmark: publishing one package into S3 channels of 50, 500 and 5000 packages.

condafarm's `publish` against the peer's way (upload the file, then py-rattler `index_s3` the channel),
both on moto's server behind the counting proxy from run.py, each timed in a fresh child process.
Targets: condafarm at 5000 within 1.3x of condafarm at 50; the peer at least 5x slower at 5000.

usage: python bench/run.py --publish-only [--publish-sizes 50,500,5000]   (also part of a full run)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from run import (
    PEER_SHARDS,
    PREFIX,
    RESULT_TAG,
    CountingProxy,
    Moto,
    Pool,
    child_env,
    fmt_bytes,
    peer_credentials,
    table,
)

PUBLISH_SCALING_TARGET = 1.3
PEER_SPEEDUP_TARGET = 5.0


def _child(argv: list[str]) -> int:
    """`_child TOOL S3URL ENDPOINT PACKAGE SUBDIR`: publish one package, print one JSON line."""
    tool, url, endpoint, package, subdir = argv
    path = Path(package)
    if tool == "condafarm":
        from condafarm import S3Options, parse_channel
        from condafarm.channel.publish import publish

        channel = parse_channel(url, S3Options(endpoint_url=endpoint, region="us-east-1", addressing_style="path"))
        t0 = time.perf_counter()
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
        creds = peer_credentials(endpoint)
        bucket = url[len("s3://") :].split("/", 1)[0]
        t0 = time.perf_counter()
        client.upload_file(str(path), bucket, f"{PREFIX}/{subdir}/{path.name}")
        asyncio.run(index_s3(url, credentials=creds, write_shards=PEER_SHARDS))
        seconds = time.perf_counter() - t0
    print(RESULT_TAG + json.dumps({"seconds": seconds}))
    return 0


@dataclass
class Publish:
    tool: str
    size: int
    seconds: float
    requests: int
    ops: dict[str, int]
    bytes_read: int


def _measure(tool: str, url: str, proxy: CountingProxy, package: Path, size: int) -> Publish:
    proxy.tally.reset()
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", tool, url, proxy.url, str(package)]
    cmd.append(package.parent.name)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=3600, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{tool} publish into {url} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    seen: dict[str, Any] = proxy.tally.snapshot()
    return Publish(
        tool=tool,
        size=size,
        seconds=json.loads(lines[-1][len(RESULT_TAG) :])["seconds"],
        requests=int(seen["requests"]),
        ops=dict(seen["ops"]),
        bytes_read=int(seen["bytes_read"]),
    )


def run_publish(pool: Pool, sizes: list[int], moto: Moto, proxy: CountingProxy, repeat: int) -> tuple[str, bool]:
    """Measure every size for both tools; returns the printed report and whether both targets were met.

    Each tool publishes `repeat` different new packages one after another into its channel; seconds are the
    median (a publish is ~16 requests of a few ms, so single runs vary by tens of milliseconds on moto).
    """
    paths = pool.ensure(max(sizes) + repeat)
    newcomers = paths[max(sizes) : max(sizes) + repeat]
    results: list[Publish] = []
    for size in sizes:
        for tool in ("condafarm", "rattler"):
            bucket = moto.new_bucket(f"pub{tool[:2]}{size}")
            url = f"s3://{bucket}/{PREFIX}"
            moto.upload(bucket, paths[:size], pool.root)
            _index_untimed(tool, url, moto.url)
            runs = [_measure(tool, url, proxy, package, size) for package in newcomers]
            results.append(sorted(runs, key=lambda r: r.seconds)[(len(runs) - 1) // 2])
            moto.drop_bucket(bucket)
        print(f"    publish into {size}: done", flush=True)
    return _report(results, sizes)


def _index_untimed(tool: str, url: str, endpoint: str) -> None:
    """Index the starting channel with the tool under test, so each publishes into its own kind of channel."""
    code = (
        "import sys, os\n"
        "from condafarm import S3Options, parse_channel, index_channel\n"
        "index_channel(parse_channel(sys.argv[1], S3Options(sys.argv[2], 'us-east-1', 'path')))\n"
        "os._exit(0)\n"
        if tool == "condafarm"
        else "import sys, os, asyncio\n"
        "from rattler.index import index_s3\n"
        "from run import PEER_SHARDS, peer_credentials\n"
        "asyncio.run(index_s3(sys.argv[1], credentials=peer_credentials(sys.argv[2]), write_shards=PEER_SHARDS))\n"
        "sys.stdout.flush(); os._exit(0)\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, url, endpoint],
        env=child_env(),
        cwd=Path(__file__).parent,
        check=True,
        timeout=3600,
    )


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


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        from run import child_exit

        child_exit(_child, sys.argv[2:])
