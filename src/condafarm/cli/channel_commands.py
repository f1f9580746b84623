"""Commands that work on a whole channel: index, init, ls, check, and the demo."""

from __future__ import annotations

import argparse
import json
import sys

from ..console import Progress, report_check
from .common import AddCommand, add_s3_options, channel_arg, human_size, on_terminal, printable

ORDER = 10


def cmd_index(args: argparse.Namespace) -> int:
    from .. import index_channel

    report = index_channel(
        channel_arg(args),
        subdirs=args.subdir or None,
        dry_run=args.dry_run,
        strict=args.strict,
        rebuild=args.rebuild,
        progress=Progress(on_terminal(args)),
    )
    if args.dry_run:
        for sub in report.subdirs:
            for label, names in (("add", sub.added), ("update", sub.updated), ("remove", sub.removed)):
                for name in names:
                    print(f"would {label} {sub.subdir}/{name}")
    print(report.summary())
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from .. import init_channel

    channel = channel_arg(args)
    created = init_channel(channel)
    print(f"created empty channel {channel.url}" if created else f"{channel.url} is already a channel")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from .. import describe_packages, list_packages

    channel = channel_arg(args)
    listed = (
        [(d.listed, d.summary) for d in describe_packages(channel, args.spec, args.subdir or None)]
        if args.long
        else [(item, "") for item in list_packages(channel, args.spec, args.subdir or None)]
    )
    for item, made in listed:
        r = item.record
        size = r.get("size", 0)
        line = (
            f"{r.get('name', '?'):<28} {r.get('version', '?'):<14} {r.get('build', '?'):<20} "
            f"{item.subdir:<12} {human_size(size):>9}  {item.filename}"
        )
        print(printable(f"{line}  {made}" if args.long else line))
    if not args.quiet:
        print(f"{len(listed)} package(s)", file=sys.stderr)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .. import describe_packages

    found = describe_packages(channel_arg(args), args.spec, required=True)
    if args.json:  # ensure_ascii: every control character escaped, so the document is safe on a terminal too
        packages = [
            {
                "subdir": d.listed.subdir,
                "filename": d.listed.filename,
                "record": d.listed.record,
                "provenance": d.provenance,
            }
            for d in found
        ]
        print(json.dumps(packages, indent=2, sort_keys=True, ensure_ascii=True))
        return 0
    for described in found:
        item, provenance = described.listed, described.provenance
        record = item.record
        print(printable(f"{item.subdir}/{item.filename}"))
        for field in ("name", "version", "build", "build_number", "size", "sha256", "depends", "constrains"):
            if field in record:
                print(printable(f"  {field}: {record[field]}"))
        if provenance is None:
            print("  provenance: none recorded (published before condafarm kept provenance, or by another tool)")
        else:
            print("  provenance (JSON):")
            for line in json.dumps(provenance, indent=2, sort_keys=True, ensure_ascii=True).splitlines():
                print(f"    {line}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .. import check_channel

    report = check_channel(channel_arg(args), verify_hashes=args.verify_hashes)
    print(report_check(report, print))
    return 0


def cmd_page(args: argparse.Namespace) -> int:
    from .. import write_page

    page = write_page(channel_arg(args))
    print(f"wrote {page.url}: {page.builds} builds, {page.yanked} yanked")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .. import run_demo

    run_demo(Path(args.folder))
    return 0


def register(command: AddCommand) -> None:
    p = command(
        "index",
        cmd_index,
        "write repodata.json and .zst for a channel (incremental)",
        "Index (or repair) a channel: write repodata.json and repodata.json.zst for every subdir and noarch/.\n"
        "Only new or changed package files are read; corrupt ones are skipped with a warning. Objects an\n"
        "earlier condafarm wrote without Cache-Control get theirs, once (see docs/publish.md).\n\n"
        "example: condafarm index s3://studio-packages/Conda/Default",
    )
    p.add_argument("channel", help="s3://BUCKET/PREFIX, file:///path or a folder")
    p.add_argument("--subdir", action="append", help="index only this subdir (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    p.add_argument("--strict", action="store_true", help="exit 7 if any package had to be skipped")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="re-read every package, ignoring the index state, and write every shard file again (repairs lost "
        "or damaged shards and an unreadable repodata.json)",
    )
    add_s3_options(p)

    p = command(
        "init",
        cmd_init,
        "create an empty channel",
        "Create an empty channel (noarch/repodata.json), so clients and queues can use it before any publish.\n\n"
        "example: condafarm init s3://studio-packages/Conda/Default",
    )
    p.add_argument("channel")
    add_s3_options(p)

    p = command(
        "ls",
        cmd_ls,
        "list packages in a channel",
        "List the packages a channel's repodata offers, sorted by name, version and build number.\n\n"
        "examples:\n  condafarm ls ./channel\n  condafarm ls s3://studio-packages/Conda/Default 'blender >=4.2'",
    )
    p.add_argument("channel")
    p.add_argument("spec", nargs="?", help="conda match spec to filter by, e.g. 'blender 4.5.*'")
    p.add_argument("--subdir", action="append", help="only this subdir (repeatable)")
    p.add_argument("--long", action="store_true", help="also say who or which farm job built or published each")
    add_s3_options(p)

    p = command(
        "info",
        cmd_info,
        "show packages' records and provenance: who built them, from what, where, with which tools",
        "Show each package matching SPEC: its repodata record and its provenance record (recipe and its sha256,\n"
        "sources with sha256, build host OS/arch, condafarm and py-rattler-build versions, the Deadline farm,\n"
        "queue, job, session and task or the user and host, start and end time, where the build log went).\n"
        "A package published before provenance was kept, or by another tool, says so.\n\n"
        "example: condafarm info s3://studio-packages/Conda/Default 'blender 4.5.*'",
    )
    p.add_argument("channel")
    p.add_argument("spec", help="conda match spec, e.g. 'blender 4.5.*' or 'farm-hello=1.0=*_2'")
    p.add_argument("--json", action="store_true", help="print one JSON document: each package's record and provenance")
    add_s3_options(p)

    p = command(
        "check",
        cmd_check,
        "report channel problems (exit 7 if any)",
        "Check a channel's health: indexed files that are missing, files not indexed, size drift, files\n"
        "replaced after indexing, and repodata.json.zst disagreeing with repodata.json. Packages whose\n"
        "dependencies the channel does not offer are a problem in a channel that keeps mirror specs\n"
        "(docs/mirror.md), a note elsewhere.",
    )
    p.add_argument("channel")
    p.add_argument("--verify-hashes", action="store_true", help="also read every package and compare sha256/md5")
    add_s3_options(p)

    p = command(
        "page",
        cmd_page,
        "write the channel's index.html: a page to browse, search and filter its packages",
        "Write CHANNEL/index.html from the repodata of every subdir (no package is read): name, version, build,\n"
        "platform, size, date and yanked state of each build, with search and filters that run in the browser.\n"
        "Self-contained (no external assets): open it from a folder, or serve the bucket as a static website.\n"
        "Each build links to its file and offers an install command to copy. Once a channel has a page, every\n"
        "command that changes it (publish, yank, remove, copy, prune, index) keeps the page current.\n\n"
        "example: condafarm page s3://studio-packages/Conda/Default",
    )
    p.add_argument("channel")
    add_s3_options(p)

    p = command(
        "demo",
        cmd_demo,
        "walk through build/ls/check/install on a local folder channel",
        "Build the example recipes (examples/recipes) into a folder channel with --build-number=+1, list and\n"
        "check it, then install from it with py-rattler and run the installed commands. Needs no cloud account.\n\n"
        "example: condafarm demo ./demo-channel",
    )
    p.add_argument("folder", nargs="?", default="demo-channel", help="channel folder (default: ./demo-channel)")
