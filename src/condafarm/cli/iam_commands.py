"""`iam-policy`: the IAM policy a Deadline Cloud queue role needs on a channel (and its job records)."""

from __future__ import annotations

import argparse
import os
import stat
import sys

from .common import AddCommand, add_s3_options, channel_arg

ORDER = 45


def cmd_iam_policy(args: argparse.Namespace) -> int:
    from .. import attach_command, parse_channel, policy_json

    channel = channel_arg(args)
    records = parse_channel(args.job_records) if args.job_records else None
    print(policy_json(channel, read_write=args.read_write, job_records=records))
    if args.role_name and not args.quiet:
        saved = _stdout_file()
        lead = "attach it to the queue role with:" if saved else "save it to a file, then attach it with:"
        print(lead, file=sys.stderr)
        command = attach_command(channel, args.role_name, read_write=args.read_write, file=saved or "POLICY.json")
        print(f"  {command}", file=sys.stderr)
    return 0


def _stdout_file() -> str | None:
    """The file stdout is redirected to (`> read.json`), so the attach command names the file the policy is in;
    None for a terminal or a pipe, or where the OS does not say (then the command names a placeholder)."""
    try:
        fd = sys.stdout.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if sys.platform == "darwin":
            import fcntl

            return fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024)).split(b"\0", 1)[0].decode()
        if sys.platform.startswith("linux"):
            return os.readlink(f"/proc/self/fd/{fd}")
        return None
    except (OSError, ValueError, AttributeError):
        return None


def register(command: AddCommand) -> None:
    p = command(
        "iam-policy",
        cmd_iam_policy,
        "print the IAM policy a queue role needs on a channel",
        "Print the IAM policy JSON for a Deadline Cloud queue role: --read-only for production queues\n"
        "(s3:GetObject, s3:ListBucket on the channel prefix only), --read-write for the package-building queue\n"
        "(adds s3:PutObject, s3:DeleteObject, s3:GetBucketLocation). With --role-name, also print the\n"
        "`aws iam put-role-policy` command that attaches it (naming the file stdout went to, where the OS says).\n\n"
        "example: condafarm iam-policy s3://studio/Conda/Default --read-only --role-name RenderQueueRole > policy.json",
    )
    p.add_argument("channel", help="s3://BUCKET/PREFIX")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--read-only", action="store_true", help="production queues: read packages")
    mode.add_argument("--read-write", action="store_true", help="package-building queues: read and publish")
    p.add_argument("--role-name", help="the queue role to attach it to (prints the aws CLI command)")
    p.add_argument(
        "--job-records",
        metavar="S3_PREFIX",
        help="also let the role keep job package records there (render_conda.yaml's CondaJobRecords): "
        "s3:GetObject, s3:PutObject and s3:DeleteObject (for the one-time store probe) on that prefix only",
    )
    add_s3_options(p)
