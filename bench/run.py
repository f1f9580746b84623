"""Benchmark: condafarm's indexer against py-rattler's (`rattler.index.index_fs` / `index_s3`).

usage:
  python bench/run.py                       # full run: 500, 2000, 5000 packages + 20 x 50 MB, folder and S3
  python bench/run.py --prune-only          # prune of an S3 channel of 10,000 builds (prune_bench.py)
  python bench/run.py --storm-only          # 1, 8, 32, 64 publishers at once (storm_bench.py)
  python bench/run.py --scale-only          # publish into 1,000 / 10,000 / 100,000 records (scale_bench.py)
  python bench/run.py --noop-only --noop-sizes 5000,20000   # S3 no-op index: LIST requests vs the floor
  python bench/run.py --env-only            # render hosts entering environments: 2,000 / 20,000 / 100,000 records
  python bench/run.py --quick               # smoke run: 200 packages + 3 x 5 MB, one run each (~15 s)
  python bench/run.py --sizes 500,2000 --no-s3 --no-large
  python bench/run.py --help

Every measurement runs in a fresh child process (`python bench/run.py _child ...`, see measure.py) that times
only the index or publish call, records its own peak RSS and bytes read, and leaves with `os._exit` (py-rattler
0.28 can crash at interpreter exit after a successful call). S3 runs against moto's server started here on
127.0.0.1, behind a small counting HTTP proxy (tests/support/proxy.py) so both indexers' requests and bytes are
counted the same way. The cases are in index_bench.py, publish_bench.py, prune_bench.py, storm_bench.py,
scale_bench.py and env_bench.py, the tables in report.py.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import BENCH, child_env
from measure import child
from support.rattler_client import exit_after

#: Bump to regenerate the package cache when the generated packages change.
CACHE_VERSION = "v1"


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="condafarm vs py-rattler indexing benchmark")
    parser.add_argument("--sizes", default="500,2000,5000", help="channel sizes in packages (default 500,2000,5000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 packages, 3 x 5 MB large packages")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 (moto) cases")
    parser.add_argument("--no-local", action="store_true", help="skip the local folder cases")
    parser.add_argument("--no-large", action="store_true", help="skip the large-package cases")
    parser.add_argument("--large-count", type=int, default=20, help="large packages (default 20)")
    parser.add_argument("--large-mb", type=int, default=50, help="size of each large package in MB (default 50)")
    parser.add_argument("--s3-sizes", default=None, help="sizes for S3 if different from --sizes")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per case; seconds are the median (default 3; 1 with --quick)"
    )
    parser.add_argument("--no-proxy", action="store_true", help="talk to moto directly (peer S3 counts: n/a)")
    parser.add_argument("--no-publish", action="store_true", help="skip the publish case")
    parser.add_argument(
        "--peer-without-shards", action="store_true", help="let py-rattler skip the CEP-16 shards condafarm writes"
    )
    parser.add_argument("--publish-only", action="store_true", help="run only the publish case")
    parser.add_argument("--publish-sizes", default="50,500,5000", help="channel sizes to publish into")
    parser.add_argument("--prune-only", action="store_true", help="run only the prune case (prune_bench.py)")
    parser.add_argument("--prune-builds", type=int, default=10000, help="builds in the pruned channel")
    parser.add_argument("--storm-only", action="store_true", help="run only the publish storm (storm_bench.py)")
    parser.add_argument("--storm-ps", default="1,8,32,64", help="publishers at once (default 1,8,32,64)")
    parser.add_argument("--storm-size", type=int, default=2000, help="records in the storm's subdir (default 2000)")
    parser.add_argument("--scale-only", action="store_true", help="run only publish at scale (scale_bench.py)")
    parser.add_argument(
        "--scale-sizes",
        default="1000,10000,100000",
        help="records in the subdir published into (default 1000,10000,100000)",
    )
    parser.add_argument("--env-only", action="store_true", help="run only render-host sessions (env_bench.py)")
    parser.add_argument(
        "--env-sizes",
        default="2000,20000,100000",
        help="records in the channel the hosts read (default 2000,20000,100000)",
    )
    parser.add_argument("--noop-only", action="store_true", help="run only the S3 no-op case (index_bench.run_noop)")
    parser.add_argument("--noop-sizes", default="5000,20000", help="channel sizes of the no-op case")
    parser.add_argument("--cache-dir", default=str(BENCH / ".cache"), help="generated packages (default bench/.cache)")
    parser.add_argument("--json", default=None, help="also write all measurements to this JSON file")
    parser.add_argument("--output", default=None, help="also write the printed report to this text file")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = [200]
        args.large_count, args.large_mb = 3, 5
    else:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.s3_sizes = [int(s) for s in args.s3_sizes.split(",")] if args.s3_sizes else args.sizes
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.publish_sizes = [50, 200] if args.quick else [int(s) for s in args.publish_sizes.split(",") if s.strip()]
    args.storm_ps = [int(s) for s in args.storm_ps.split(",") if s.strip()]
    args.scale_sizes = [int(s) for s in args.scale_sizes.split(",") if s.strip()]
    args.env_sizes = [int(s) for s in args.env_sizes.split(",") if s.strip()]
    if args.publish_only:
        args.no_local = args.no_large = True
        args.s3_sizes = []
    return args


def main(argv: list[str]) -> int:
    args = _options(argv)
    if args.peer_without_shards:
        os.environ["CONDAFARM_BENCH_PEER_SHARDS"] = "0"  # read by the child processes
    sizes, s3_sizes, publish_sizes = args.sizes, args.s3_sizes, args.publish_sizes
    large_count, large_mb = args.large_count, args.large_mb

    # Imported here rather than at the top: a measured child runs this file too, and every module it
    # imports counts in its peak RSS (measure.py is all it needs).
    import rattler  # noqa: F401
    from channels import Buckets, Pool
    from index_bench import Case, run_local_case, run_s3_case
    from publish_bench import run_publish
    from report import case_json, print_case, report_header, summary
    from support.moto import MotoServer
    from support.proxy import S3Proxy

    if args.prune_only or args.storm_only or args.scale_only or args.env_only:
        return _on_moto_only(args)
    if args.noop_only:
        return _noop_only(args)
    header = report_header(args)
    print(header, flush=True)
    report = [header]

    cache = Path(args.cache_dir).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    small = Pool(cache / f"small-{CACHE_VERSION}", "small")
    large = Pool(cache / f"large-{CACHE_VERSION}-{large_mb}mb", "large", large_mb)
    # the work folder sits next to the cache so channels can be hard links into it
    work = Path(tempfile.mkdtemp(prefix="work-", dir=cache))
    cases: list[Case] = []
    moto: MotoServer | None = None
    proxy: S3Proxy | None = None
    started = time.monotonic()
    try:
        print(f"\npreparing packages (cache: {cache})", flush=True)
        small.ensure(max(sizes + (s3_sizes if not args.no_s3 else []) + publish_sizes) + args.repeat)
        if not args.no_large:
            large.ensure(large_count + 1)
        if not args.no_local:
            for n in sizes:
                print(f"\nlocal folder, {n} packages ...", flush=True)
                cases.append(run_local_case(f"local {n}", small, n, work, args.repeat))
                report.append(print_case(cases[-1]))
            if not args.no_large:
                print(f"\nlocal folder, {large_count} x {large_mb} MB ...", flush=True)
                cases.append(run_local_case(f"local {large_count}x{large_mb}MB", large, large_count, work, args.repeat))
                report.append(print_case(cases[-1]))
        if not args.no_s3:
            moto = MotoServer(env=child_env())
            buckets = Buckets(moto)
            proxy = None if args.no_proxy else S3Proxy(moto.port)
            print(f"\nmoto on {moto.url}" + (f", counting proxy on {proxy.url}" if proxy else ""), flush=True)
            for n in s3_sizes:
                print(f"\nS3, {n} packages ...", flush=True)
                cases.append(run_s3_case(f"s3 {n}", small, n, buckets, proxy, args.repeat))
                report.append(print_case(cases[-1]))
            if not args.no_large:
                print(f"\nS3, {large_count} x {large_mb} MB ...", flush=True)
                cases.append(
                    run_s3_case(f"s3 {large_count}x{large_mb}MB", large, large_count, buckets, proxy, args.repeat)
                )
                report.append(print_case(cases[-1]))
            if not args.no_publish and proxy is not None:
                print(f"\npublish into S3 channels of {publish_sizes} packages ...", flush=True)
                report.append(run_publish(small, publish_sizes, buckets, proxy, args.repeat)[0])
    finally:
        if proxy is not None:
            proxy.stop()
        if moto is not None:
            moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    if cases:
        report.append(summary(cases))
    tail = f"\ntotal benchmark time {time.monotonic() - started:.0f}s"
    print(tail)
    report.append(tail)
    if args.output:
        Path(args.output).write_text("\n".join(report) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header, "cases": [case_json(c) for c in cases]}, indent=1))
    return 1 if any(c.check for c in cases) else 0  # targets are reported, not enforced


def _on_moto_only(args: argparse.Namespace) -> int:
    """`--prune-only`, `--storm-only`, `--scale-only`, `--env-only`: the cases that need only moto and the proxy."""
    from channels import Buckets
    from env_bench import run_env
    from prune_bench import run_prune
    from report import run_header
    from scale_bench import run_scale
    from storm_bench import run_storm
    from support.moto import MotoServer
    from support.proxy import S3Proxy

    os.environ.update(child_env())  # these cases fill and check channels in this process, as moto's clients
    header = run_header()
    print(header, flush=True)
    report, ok, started = [header], True, time.monotonic()
    with MotoServer(env=child_env()) as moto, tempfile.TemporaryDirectory() as work:
        # serial writes: moto's conditional writes are not atomic, and the storm has simultaneous writers
        buckets, proxy = Buckets(moto), S3Proxy(moto.port, serial_writes=True)
        try:
            if args.prune_only:
                report.append(run_prune(buckets, proxy, args.prune_builds))
            if args.storm_only:
                print(f"\npublish storms of {args.storm_ps} publishers ...", flush=True)
                text, landed = run_storm(buckets, proxy, args.storm_ps, args.storm_size, Path(work))
                report.append(text)
                ok = ok and landed
            if args.scale_only:
                print(f"\npublish into {args.scale_sizes} records ...", flush=True)
                text, landed = run_scale(buckets, proxy, args.scale_sizes, Path(work), args.repeat)
                report.append(text)
                ok = ok and landed
            if args.env_only:
                text, met = run_env(buckets, proxy, args.env_sizes, Path(work), args.repeat)
                report.append(text)
                ok = ok and met
        finally:
            proxy.stop()
    report.append(f"\ntotal benchmark time {time.monotonic() - started:.0f}s")
    print(report[-1])
    if args.output:
        Path(args.output).write_text("\n".join(report) + "\n")
    return 0 if ok else 1


def _noop_only(args: argparse.Namespace) -> int:
    from channels import Buckets, Pool
    from index_bench import run_noop
    from report import report_header
    from support.moto import MotoServer
    from support.proxy import S3Proxy

    sizes = [int(s) for s in args.noop_sizes.split(",") if s.strip()]
    args.sizes, args.s3_sizes, args.no_large = sizes, sizes, True  # what the header names
    header = report_header(args)
    print(header, flush=True)
    small = Pool(Path(args.cache_dir).resolve() / f"small-{CACHE_VERSION}", "small")
    with MotoServer(env=child_env()) as moto:
        proxy = S3Proxy(moto.port)
        try:
            report, ok = run_noop(small, sizes, Buckets(moto), proxy, args.repeat)
        finally:
            proxy.stop()
    if args.output:
        Path(args.output).write_text(f"{header}\n{report}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        exit_after(child, sys.argv[2:])
    sys.exit(main(sys.argv[1:]))
