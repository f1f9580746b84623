"""Commands that change which packages a channel offers: publish, yank, remove, copy."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..channel.servers import SERVER_FORMS
from ..console import UploadBar
from .common import AddCommand, add_s3_options, channel_arg, human_size, on_terminal

ORDER = 20


def cmd_publish(args: argparse.Namespace) -> int:
    from ..channel.publish import publish
    from ..channel.servers import is_server, upload_to_server

    if is_server(args.to):
        for name in upload_to_server(args.to, [Path(f) for f in args.files]):
            print(f"uploaded {name} to {args.to} (the server indexes it)")
        return 0
    report = publish(
        channel_arg(args, "to"),
        [Path(f) for f in args.files],
        force=args.force,
        progress=UploadBar(on_terminal(args)),
    )
    for p in report.packages:
        verb = "replaced" if p.replaced else "published"
        print(f"{verb} {p.url}  ({p.subdir}, build number {p.build_number}, {human_size(p.size)})")
    for name in report.adopted:
        print(f"indexed {name} (left unindexed by an interrupted publish)")
    print(report.summary())
    return 0


def cmd_yank(args: argparse.Namespace) -> int:
    from ..channel.curate import yank

    result = yank(channel_arg(args), args.filenames)
    for key in result.changed:
        print(f"yanked {key} (file kept; solvers no longer pick it)")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from ..channel.curate import remove

    result = remove(channel_arg(args), args.filenames, yes=args.yes)
    for key in result.changed:
        print(f"removed {key}")
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from ..channel.curate import copy_packages

    result = copy_packages(channel_arg(args, "source"), channel_arg(args, "destination"), args.packages)
    for key in result.changed:
        print(f"copied {key} to {result.channel}")
    return 0


def register(command: AddCommand) -> None:
    p = command(
        "publish",
        cmd_publish,
        "upload package files to a channel and index them",
        "Upload .conda/.tar.bz2 files to a channel and add them to its index in one step. Every file is\n"
        "checked first; a bad one stops the publish before anything is uploaded. A file name that already\n"
        "exists is refused (exit 5): published packages never change. The channel is created if missing.\n"
        "The cost does not grow with the channel: no listing, no other package is read.\n\n"
        "Servers that keep their own index (prefix.dev, anaconda.org, Quetz, Artifactory) get an upload\n"
        "through py-rattler-build, with credentials from RATTLER_AUTH_FILE or the keychain.\n\n"
        "examples:\n"
        "  condafarm publish out/noarch/mytool-1.0-h0_0.conda --to s3://studio-packages/Conda/Default\n"
        "  condafarm publish out/*/*.conda --to ./channel\n"
        "  condafarm publish out/noarch/*.conda --to prefix://studio-tools",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="package files (.conda or .tar.bz2)")
    p.add_argument(
        "--to",
        required=True,
        metavar="CHANNEL",
        help="s3://BUCKET/PREFIX, file:///path or a folder; or a server: " + SERVER_FORMS,
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace files that already exist (and their records); breaks lockfiles that pinned the old file",
    )
    add_s3_options(p)

    p = command(
        "yank",
        cmd_yank,
        "hide packages from solvers but keep their files",
        "Take packages out of the index (recorded in repodata's `removed`) and keep their files, so\n"
        "environments and lockfiles that already pinned them still install. FILENAME may be prefixed by its\n"
        "subdir.\n\n"
        "example: condafarm yank s3://studio-packages/Conda/Default linux-64/mytool-1.0-h0_3.conda",
    )
    p.add_argument("channel")
    p.add_argument("filenames", nargs="+", metavar="FILENAME")
    add_s3_options(p)

    p = command(
        "remove",
        cmd_remove,
        "delete packages and their records (dev/test channels)",
        "Delete packages from a channel: first their records, then their files. Breaks lockfiles that\n"
        "pinned them, so it refuses to run without --yes; prefer `condafarm yank` on production channels.\n\n"
        "example: condafarm remove ./dev-channel noarch/mytool-0.1-h0_0.conda --yes",
    )
    p.add_argument("channel")
    p.add_argument("filenames", nargs="+", metavar="FILENAME")
    p.add_argument("--yes", action="store_true", help="really delete the files")
    add_s3_options(p)

    p = command(
        "copy",
        cmd_copy,
        "promote packages from one channel to another",
        "Copy packages, chosen by filename or match spec, from SOURCE to DESTINATION and index them there.\n"
        "Never overwrites. Between buckets on the same endpoint the copy happens inside S3.\n\n"
        "examples:\n"
        "  condafarm copy s3://studio/Conda/Staging s3://studio/Conda/Default 'mytool 2.1.*'\n"
        "  condafarm copy ./dev s3://studio/Conda/Default noarch/mytool-2.1-h0_0.conda",
    )
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("destination", metavar="DESTINATION")
    p.add_argument("packages", nargs="+", metavar="FILENAME_OR_SPEC")
    add_s3_options(p)
