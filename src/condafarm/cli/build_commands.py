"""Commands that make packages: build (recipe to published package) and next-build-number."""

from __future__ import annotations

import argparse

from .common import AddCommand, add_s3_options, channel_arg

ORDER = 30


def cmd_next_build_number(args: argparse.Namespace) -> int:
    from ..build_number import next_build_number

    print(next_build_number(channel_arg(args), args.name, args.version, args.subdir, args.increment))
    return 0


def register(command: AddCommand) -> None:
    p = command(
        "next-build-number",
        cmd_next_build_number,
        "print the highest build number of a package version in a channel, plus N",
        "Print the highest build number of NAME VERSION in the channel's SUBDIR and noarch/ repodata, plus N\n"
        "(default 1). With no such package, or no channel yet, the highest counts as 0: +1 prints 1, as\n"
        "`rattler-build publish --build-number=+1` does. To reserve the number for a build, use\n"
        "`condafarm build --build-number=+N` instead: two jobs running this at once get the same answer.\n\n"
        "example: condafarm next-build-number s3://studio-packages/Conda/Default blender 4.5.1 --subdir linux-64",
    )
    p.add_argument("channel", help="s3://BUCKET/PREFIX, file:///path or a folder")
    p.add_argument("name", help="package name, e.g. blender")
    p.add_argument("version", help="package version, e.g. 4.5.1")
    p.add_argument("--subdir", default="noarch", help="platform subdir to look in besides noarch (default: noarch)")
    p.add_argument("--increment", type=int, default=1, metavar="N", help="added to the highest (default: 1)")
    add_s3_options(p)
