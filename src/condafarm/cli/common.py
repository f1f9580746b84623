"""What every command shares: the epilog, S3 flags, channel parsing from flags, when to draw progress, and
sizes for people."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .. import Channel, S3Options

EPILOG = """\
channels:
  s3://BUCKET/PREFIX     an S3 bucket (credentials from the AWS chain: AWS_PROFILE, env keys, SSO, roles)
  /path or file:///path  a local or network folder

S3 options go after the command or before it (condafarm --endpoint-url URL ls s3://...), or come from the
environment: S3_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3), S3_REGION (or AWS_REGION), S3_FORCE_PATH_STYLE=true,
S3_ADDRESSING_STYLE=path|virtual.

exit codes: 0 ok, 1 error, 2 usage, 3 storage unreachable, 4 access denied, 5 already exists,
6 bad package, 7 channel problems found (check, index --strict), 8 build failed (recipe, source, script, test),
9 packages cannot be solved from the channels, or a lockfile or job record does not match them (env),
10 env --offline needed a URL outside its channels
"""

#: `command(name, func, help, description)` adds a subcommand with the shared flags and returns its parser.
AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str, str], argparse.ArgumentParser]


def add_s3_options(parser: argparse.ArgumentParser, *, before_command: bool = False) -> None:
    """The S3 flags, named as pixi and rattler name them. They are accepted before the command too, where aws-cli
    users put them (`condafarm --endpoint-url URL ls s3://...`): there they set the defaults, which a subcommand's
    own flags (defaulting to nothing, so they never hide the earlier ones) override."""
    unset = None if before_command else argparse.SUPPRESS
    group = parser.add_argument_group("S3 options (for s3:// channels)")
    group.add_argument(
        "--endpoint-url",
        default=unset,
        help="S3-compatible endpoint, e.g. http://127.0.0.1:9000 (MinIO, Ceph...)",
    )
    group.add_argument("--region", default=unset, help="bucket region (default: from the AWS config)")
    group.add_argument(
        "--force-path-style",
        action="store_const",
        const="path",
        dest="addressing_style",
        default=unset,
        help="address buckets as ENDPOINT/BUCKET (same as --addressing-style path)",
    )
    group.add_argument("--addressing-style", choices=["path", "virtual"], dest="addressing_style", default=unset)
    group.add_argument(
        "--single-writer",
        action="store_true",
        default=False if before_command else argparse.SUPPRESS,
        help="write to a store that ignores conditional writes (If-None-Match/If-Match), promising that no other "
        "writer writes this channel at the same time (also CONDAFARM_SINGLE_WRITER=1); every commit is read back",
    )


def s3_options(args: argparse.Namespace) -> S3Options:
    from .. import S3Options

    return S3Options(
        endpoint_url=getattr(args, "endpoint_url", None),
        region=getattr(args, "region", None),
        addressing_style=getattr(args, "addressing_style", None),
        single_writer=bool(getattr(args, "single_writer", False)),
    )


def channel_arg(args: argparse.Namespace, attr: str = "channel") -> Channel:
    """The channel named by `args.<attr>`, with the S3 flags applied."""
    from .. import parse_channel

    return parse_channel(getattr(args, attr), s3_options(args))


#: Characters a terminal acts on rather than shows (C0 and C1 controls, DEL), except tab.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """`text` safe to print to a terminal: a channel's metadata and provenance are written by others, and an
    escape sequence in them could rewrite the screen or the terminal's title, so controls are shown escaped."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def human_size(n: float) -> str:
    """`1.2 GB`, `340 kB`, `12 B`: sizes in farm logs are read by people."""
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


def on_terminal(args: argparse.Namespace) -> bool:
    """Whether to draw progress: stderr is a terminal and the user did not ask for quiet."""
    return sys.stderr.isatty() and not args.quiet
