"""`condafarm mirror`: copy the packages a farm needs from an upstream channel into its own."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .common import AddCommand, add_s3_options, channel_arg, human_size

if TYPE_CHECKING:
    from .. import Wanted

ORDER = 25


def cmd_mirror(args: argparse.Namespace) -> int:
    from .. import MirrorSpec, UsageError, mirror_channel, split_specs

    spec = None
    if args.specs:
        if args.upstream is None:
            raise UsageError(
                "name the UPSTREAM channel to mirror --specs from, e.g. https://conda.anaconda.org/conda-forge"
            )
        spec = MirrorSpec.checked(
            args.upstream,
            split_specs(args.specs),
            args.platform or [],
            virtual_packages=args.virtual_package or [],
            all_versions=args.all_versions,
            include=args.include or [],
            exclude=args.exclude or [],
            licenses=args.license or [],
        )
    elif args.platform or args.virtual_package or args.all_versions or args.include or args.exclude or args.license:
        raise UsageError("selection flags need --specs; without --specs the channel's stored specs run as they are")
    channel = channel_arg(args, "to")

    def copied(wanted: Wanted) -> None:
        if not args.quiet:
            print(f"copied {wanted.key}  ({human_size(wanted.size)})", flush=True)

    reports = mirror_channel(channel, spec, upstream=args.upstream, dry_run=args.dry_run, progress=copied)
    for report in reports:
        print(f"mirror of {report.spec.describe()}:")
        for platform, files in report.platforms.items():
            size = sum(w.size for w, state in files if state == "copy")
            count = sum(1 for _, state in files if state == "copy")
            print(f"  {platform}: {len(files)} file(s) in the closure, {count} to copy, {size} bytes")
            if args.dry_run:
                for wanted, state in files:
                    print(f"    {state:<8} {wanted.key}  {wanted.size} bytes")
        for wanted in report.excluded:
            print(f"  excluded {wanted.key}")
        for wanted in report.unlicensed:
            print(f"  left out {wanted.key}: license {wanted.license!r} is not allowed")
        print(report.summary())
    return 0


def register(command: AddCommand) -> None:
    p = command(
        "mirror",
        cmd_mirror,
        "copy the packages a farm needs (solved per platform) from an upstream channel into a farm channel",
        "Solve SPECS on each --platform (plus noarch) from UPSTREAM, as a host of that platform would, and copy\n"
        "the closure's files into CHANNEL: each checked against its upstream record's size and sha256, published\n"
        "as `publish` does (never overwriting, safe beside other publishers, safe to kill: a rerun copies only\n"
        "what is missing), with provenance saying where and when it came from. The specs are kept in the channel\n"
        "(.condafarm/mirror.yaml); `condafarm mirror --to CHANNEL` with no --specs re-runs them all.\n\n"
        "examples:\n"
        "  condafarm mirror https://conda.anaconda.org/conda-forge --to s3://studio/Conda/Mirror \\\n"
        "      --specs 'python 3.11.* numpy' --platform linux-64 --platform win-64 --virtual-package __glibc=2.28\n"
        "  condafarm mirror --to s3://studio/Conda/Mirror        # re-run the kept specs (on a schedule)",
    )
    p.add_argument("upstream", nargs="?", help="upstream channel: https://..., s3://BUCKET/PREFIX or a folder")
    p.add_argument("--to", required=True, help="the farm channel: s3://BUCKET/PREFIX or a folder")
    p.add_argument("--specs", action="append", help="match specs, e.g. 'python 3.11.* numpy' (repeatable)")
    p.add_argument("--platform", action="append", help="platform to solve for (repeatable; default linux-64)")
    p.add_argument(
        "--virtual-package",
        action="append",
        metavar="[PLATFORM:]NAME=VERSION",
        help="a virtual package the platform's hosts have, e.g. __glibc=2.28 or osx-arm64:__osx=14.0 (repeatable)",
    )
    p.add_argument("--all-versions", action="store_true", help="also every version of the named specs")
    p.add_argument("--include", action="append", metavar="SPEC", help="also every record matching SPEC (no closure)")
    p.add_argument("--exclude", action="append", metavar="SPEC", help="never copy records matching SPEC")
    p.add_argument("--license", action="append", metavar="PATTERN", help="copy only licenses matching, e.g. 'BSD*'")
    p.add_argument("--dry-run", action="store_true", help="print what would be copied per platform, copy nothing")
    add_s3_options(p)
