"""The `condafarm` command: argument parsing and printing only; every command is one library call."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence

from . import __version__
from .channel import Channel, S3Options, parse_channel
from .errors import CondafarmError

log = logging.getLogger("condafarm")

EPILOG = """\
channels:
  s3://BUCKET/PREFIX     an S3 bucket (credentials from the AWS chain: AWS_PROFILE, env keys, SSO, roles)
  /path or file:///path  a local or network folder

S3 options may also come from the environment: S3_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3), S3_REGION (or
AWS_REGION), S3_FORCE_PATH_STYLE=true, S3_ADDRESSING_STYLE=path|virtual.

exit codes: 0 ok, 1 error, 2 usage, 3 storage unreachable, 4 access denied, 5 already exists,
6 bad package, 7 channel problems found (check, index --strict)
"""


def _s3_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("S3 options (for s3:// channels)")
    group.add_argument("--endpoint-url", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000 (MinIO, Ceph...)")
    group.add_argument("--region", help="bucket region (default: from the AWS config)")
    group.add_argument(
        "--force-path-style",
        action="store_const",
        const="path",
        dest="addressing_style",
        help="address buckets as ENDPOINT/BUCKET (same as --addressing-style path)",
    )
    group.add_argument("--addressing-style", choices=["path", "virtual"], dest="addressing_style")


def _channel(args: argparse.Namespace, attr: str = "channel") -> Channel:
    options = S3Options(endpoint_url=args.endpoint_url, region=args.region, addressing_style=args.addressing_style)
    return parse_channel(getattr(args, attr), options)


class _Progress:
    """A one-line progress counter on a terminal; silent otherwise (logs stay clean in farm jobs)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0

    def __call__(self, subdir: str, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (done < total and now - self._last < 0.1):
            return
        self._last = now
        end = "\n" if done == total else ""
        sys.stderr.write(f"\r  {subdir}: read {done}/{total} packages{end}")
        sys.stderr.flush()


def cmd_index(args: argparse.Namespace) -> int:
    from .index import index_channel

    report = index_channel(
        _channel(args),
        subdirs=args.subdir or None,
        dry_run=args.dry_run,
        strict=args.strict,
        rebuild=args.rebuild,
        progress=_Progress(sys.stderr.isatty() and not args.quiet),
    )
    if args.dry_run:
        for sub in report.subdirs:
            for label, names in (("add", sub.added), ("update", sub.updated), ("remove", sub.removed)):
                for name in names:
                    print(f"would {label} {sub.subdir}/{name}")
    print(report.summary())
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from .index import init_channel

    channel = _channel(args)
    created = init_channel(channel)
    print(f"created empty channel {channel.url}" if created else f"{channel.url} is already a channel")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from .listing import list_packages

    items = list_packages(_channel(args), args.spec, args.subdir or None)
    for item in items:
        r = item.record
        size = r.get("size", 0)
        print(
            f"{r.get('name', '?'):<28} {r.get('version', '?'):<14} {r.get('build', '?'):<20} "
            f"{item.subdir:<12} {size / 1e6:>9.1f} MB  {item.filename}"
        )
    if not args.quiet:
        print(f"{len(items)} package(s)", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .check import check_channel
    from .errors import ChannelProblems

    report = check_channel(_channel(args), verify_hashes=args.verify_hashes)
    for problem in report.problems:
        print(problem)
    if not report.ok:
        raise ChannelProblems(f"{report.channel}: {len(report.problems)} problem(s) in {report.packages} packages")
    print(f"{report.channel}: ok, {report.packages} packages")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .demo import run_demo

    run_demo(Path(args.folder))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="condafarm",
        description="Build, publish and index conda channels on S3 or a folder, for render farms.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"condafarm {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    common.add_argument("-q", "--quiet", action="store_true", help="only errors and the result")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str, desc: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            parents=[common],
            help=help,
            description=desc,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = command(
        "index",
        cmd_index,
        "write repodata.json and .zst for a channel (incremental)",
        "Index (or repair) a channel: write repodata.json and repodata.json.zst for every subdir and noarch/.\n"
        "Only new or changed package files are read; corrupt ones are skipped with a warning.\n\n"
        "example: condafarm index s3://studio-packages/Conda/Default",
    )
    p.add_argument("channel", help="s3://BUCKET/PREFIX, file:///path or a folder")
    p.add_argument("--subdir", action="append", help="index only this subdir (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    p.add_argument("--strict", action="store_true", help="exit 7 if any package had to be skipped")
    p.add_argument("--rebuild", action="store_true", help="re-read every package, ignoring the index state")
    _s3_options(p)

    p = command(
        "init",
        cmd_init,
        "create an empty channel",
        "Create an empty channel (noarch/repodata.json), so clients and queues can use it before any publish.\n\n"
        "example: condafarm init s3://studio-packages/Conda/Default",
    )
    p.add_argument("channel")
    _s3_options(p)

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
    _s3_options(p)

    p = command(
        "check",
        cmd_check,
        "report channel problems (exit 7 if any)",
        "Check a channel's health: indexed files that are missing, files not indexed, size drift, files\n"
        "replaced after indexing, and repodata.json.zst disagreeing with repodata.json.",
    )
    p.add_argument("channel")
    p.add_argument("--verify-hashes", action="store_true", help="also read every package and compare sha256/md5")
    _s3_options(p)

    p = command(
        "demo",
        cmd_demo,
        "walk through index/ls/check/install on a local folder channel",
        "Make a few real example packages, index them as a folder channel, list and check it, then install\n"
        "from it with py-rattler and run the installed command. Needs no cloud account.",
    )
    p.add_argument("folder", nargs="?", default="demo-channel", help="channel folder (default: ./demo-channel)")
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command, and return its exit code; errors become one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose if not args.quiet else logging.ERROR
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s: %(message)s", stream=sys.stderr)
    if args.verbose < 2:
        for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except CondafarmError as exc:
        print(f"condafarm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("condafarm: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line by default, the traceback with -vv
        log.debug("internal error", exc_info=True)
        print(f"condafarm: internal error: {type(exc).__name__}: {exc} (rerun with -vv for details)", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point. Leaves with `os._exit` after flushing: py-rattler 0.28 sometimes crashes during
    interpreter teardown after a successful call, which must not turn success into a failure exit."""
    code = run(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
