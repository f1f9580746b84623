"""The `condafarm` command: argument parsing and printing only; every command is one library call.

Each `*_commands.py` module in this package registers the subcommands of one area of the library through its
`register(command)` function; `ORDER` places the area in `--help`. Command modules import the library inside
each command function, so `--help`, `--version` and a folder-channel command load only what they use.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import pkgutil
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ..console import configure_logging, exit_now
from ..errors import CondafarmError
from ..redaction import redact
from ..version import __version__
from .common import EPILOG, add_s3_options

log = logging.getLogger("condafarm")


def _areas() -> list[Any]:
    modules = [
        importlib.import_module(f"{__name__}.{m.name}")
        for m in pkgutil.iter_modules(__path__)
        if m.name.endswith("_commands")
    ]
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 50), m.__name__))


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, as every other error (farm logs are read line by line); `--help` has the rest."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        # argparse's own class for subcommands (`condafarm X`, `condafarm env X`)
        if isinstance(action, argparse._SubParsersAction) and choices is not None and value not in choices:
            close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
            if close:
                raise argparse.ArgumentError(
                    action, f"unknown command {value!r}; did you mean {close[0]!r}? ({self.prog} --help lists them)"
                )
        super()._check_value(action, value)


def _shared_flags() -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    common.add_argument("-q", "--quiet", action="store_true", help="only errors and the result")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="condafarm",
        description="Build, publish and index conda channels on S3 or a folder, for render farms.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"condafarm {__version__}")
    add_s3_options(parser, before_command=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str, desc: str) -> argparse.ArgumentParser:
        # Each command gets its own copy of the shared flags, and may take one of their short names for its own
        # option (`submit -q QUEUE`, as the samples' submit-package-job spells it): the shared flag keeps its
        # long name there.
        p = sub.add_parser(
            name,
            parents=[_shared_flags()],
            help=help,
            description=desc,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            conflict_handler="resolve",
        )
        p.set_defaults(func=func)
        return p

    for area in _areas():
        area.register(command)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command, and return its exit code; errors become one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose if not args.quiet else logging.ERROR
    configure_logging(max(level, logging.DEBUG), quiet_libraries=args.verbose < 2)
    try:
        return int(args.func(args))
    except CondafarmError as exc:
        print(f"condafarm: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("condafarm: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line by default, the traceback with -vv
        log.debug("internal error", exc_info=True)
        print(
            f"condafarm: internal error: {type(exc).__name__}: {redact(str(exc))} (rerun with -vv for details)",
            file=sys.stderr,
        )
        return 1


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point; leaves through `exit_now` (see there why)."""
    exit_now(run(argv))
