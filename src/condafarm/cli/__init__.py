"""The `condafarm` command: argument parsing and printing only; every command is one library call.

Each `*_commands.py` module registers the subcommands of one area of the library.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import CondafarmError
from . import channel_commands
from .common import EPILOG

log = logging.getLogger("condafarm")

AREAS = [channel_commands]


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

    for area in AREAS:
        area.register(command)
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
