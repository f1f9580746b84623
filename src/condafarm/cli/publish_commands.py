"""Commands that change which packages a channel offers: publish, yank, remove, copy, prune."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import SERVER_FORMS
from ..console import UploadBar
from ..defaults import DEFAULT_GRACE_HOURS
from ..numbers import AT_LEAST_ONE, DURATION, POSITIVE_DURATION, argument
from .common import AddCommand, add_s3_options, channel_arg, human_size, on_terminal

ORDER = 20


def cmd_publish(args: argparse.Namespace) -> int:
    from .. import Kind, classify, publish, upload_to_server

    if classify(args.to).kind is Kind.SERVER:
        for name in upload_to_server(args.to, [Path(f) for f in args.files]):
            print(f"uploaded {name} to {args.to} (the server indexes it)")
        return 0
    report = publish(
        channel_arg(args, "to"),
        [Path(f) for f in args.files],
        force=args.force,
        compact=args.compact,
        progress=UploadBar(on_terminal(args)),
        create_folder=False,
    )
    for p in report.packages:
        verb = "replaced" if p.replaced else "published"
        print(f"{verb} {p.url}  ({p.subdir}, build number {p.build_number}, {human_size(p.size)})")
    for name in report.adopted:
        print(f"indexed {name} (left unindexed by an interrupted publish)")
    print(report.summary())
    return 0


def cmd_yank(args: argparse.Namespace) -> int:
    from .. import yank

    result = yank(channel_arg(args), args.filenames)
    for key in result.changed:
        print(f"yanked {key} (file kept; solvers no longer pick it)")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from .. import remove

    result = remove(channel_arg(args), args.filenames, yes=args.yes)
    for key in result.changed:
        print(f"removed {key}")
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from .. import copy_packages

    result = copy_packages(channel_arg(args, "source"), channel_arg(args, "destination"), args.packages)
    for key in result.changed:
        print(f"copied {key} to {result.channel}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from .. import prune_channel

    report = prune_channel(
        channel_arg(args),
        keep=args.keep,
        newer_than_days=args.newer_than,
        spec=args.spec,
        grace_hours=args.grace_hours,
        protect_lockfiles=args.protect_lockfile,
        protect_window_days=args.protect_window_days,
        yes=args.yes,
    )
    rows = [("yank", item) for item in report.yanked] + [("delete", item) for item in report.deleted]
    if rows:
        print(f"{'action':<7} {'subdir':<12} {'file':<44} {'build':<16} {'age':>5} {'size':>9}")
    for action, item in rows:
        print(
            f"{action:<7} {item.subdir:<12} {item.filename:<44} {item.build:<16} {_age(item.age_days):>5} "
            f"{human_size(item.size):>9}"
        )
    yank_, delete_ = ("would yank", "would delete") if report.dry_run else ("yanked", "deleted")
    yanked, freed = human_size(sum(item.size for item in report.yanked)), human_size(report.bytes_freed)
    later = f" (a later prune deletes them once {args.grace_hours:g} h have passed)" if report.yanked else ""
    print(f"{yank_} {len(report.yanked)} file(s), {yanked}{later}")
    print(f"{delete_} {len(report.deleted)} file(s) yanked by an earlier prune: {freed} freed")
    print(f"kept {report.kept} build(s)")
    if report.waiting:
        print(f"{len(report.waiting)} file(s) yanked by an earlier prune wait for the grace period")
    if report.protected:
        print(f"{len(report.protected)} file(s) left as they are: named in {len(report.lockfiles)} recent lockfile(s)")
    if report.dry_run and rows:
        print("dry run: nothing changed; pass --yes to prune")
    return 0


def _age(days: float | None) -> str:
    if days is None:
        return "?"
    return f"{days * 24:.0f}h" if days < 2 else f"{days:.0f}d"


def register(command: AddCommand) -> None:
    p = command(
        "publish",
        cmd_publish,
        "upload package files to a channel and index them",
        "Upload .conda/.tar.bz2 files to a channel and add them to its index in one step. Every file is\n"
        "checked first; a bad one stops the publish before anything is uploaded. A file name that already\n"
        "exists is refused (exit 5): published packages never change. A folder channel must exist (a mistyped\n"
        "path is refused, exit 3; `condafarm init` creates one); an S3 channel is created by its first publish.\n"
        "The cost does not grow with the channel: no listing, no other package is read.\n\n"
        "`condafarm env`, rattler and pixi (which read the CEP-16 shards) see the package when publish returns.\n"
        "So does conda (which reads repodata.json) where repodata.json is up to 1 MiB (CONDAFARM_COMPACT_BYTES);\n"
        "in larger subdirs it follows at the next `condafarm index`, or at once with --compact.\n\n"
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
    p.add_argument(
        "--compact",
        action="store_true",
        help="rewrite repodata.json before returning even in a large subdir, so conda clients see the package now",
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

    p = command(
        "prune",
        cmd_prune,
        "drop old builds: yank them now, delete their files after a grace period",
        "Keep the newest N builds of each name/version/subdir (--keep) and/or everything built or indexed in\n"
        "the last D days (--newer-than); a build any rule keeps stays. Every variant with one of the N\n"
        "highest build numbers counts as kept. Without --yes this is a dry run that prints what would go.\n\n"
        "Two phases, so a running job never loses a file it is about to download: a prune yanks what the\n"
        "rules let go (out of the index, file kept, noted in SUBDIR/.condafarm/pruned.json), and a later\n"
        "prune deletes the files it yanked more than --grace-hours ago. Packages yanked by a person are never\n"
        "touched, and packages named in a recent --protect-lockfile are left as they are. Safe while others\n"
        "publish. Run it on a schedule (e.g. daily) to keep a dev channel's size bounded.\n\n"
        "examples:\n"
        "  condafarm prune s3://studio-packages/Conda/Dev --keep 5\n"
        "  condafarm prune s3://studio-packages/Conda/Dev --keep 3 --newer-than 14 --spec 'mytool' --yes\n"
        "  condafarm prune ./dev-channel --keep 1 --protect-lockfile jobs/ --protect-window-days 60 --yes",
    )
    p.add_argument("channel")
    p.add_argument(
        "--keep", type=argument(AT_LEAST_ONE), metavar="N", help="keep the N newest builds of each name/version/subdir"
    )
    p.add_argument(
        "--newer-than",
        type=argument(POSITIVE_DURATION),
        metavar="DAYS",
        help="keep builds built or indexed in the last DAYS days",
    )
    p.add_argument("--spec", metavar="SPEC", help="only packages matching this match spec, e.g. 'mytool 2.*'")
    p.add_argument(
        "--grace-hours",
        type=argument(DURATION),
        default=DEFAULT_GRACE_HOURS,
        metavar="H",
        help=f"delete a yanked file only this long after the prune that yanked it (default {DEFAULT_GRACE_HOURS:g})",
    )
    p.add_argument(
        "--protect-lockfile",
        action="append",
        default=[],
        metavar="FILE",
        help="leave every package this lockfile names (repeatable; a folder means every file in it)",
    )
    p.add_argument(
        "--protect-window-days",
        type=argument(DURATION),
        default=30.0,
        metavar="D",
        help="only lockfiles modified in the last D days protect (default 30)",
    )
    p.add_argument("--yes", action="store_true", help="really yank and delete (default: dry run)")
    add_s3_options(p)
