"""`condafarm-worker` (or `python -m condafarm_worker`): the commands condafarm's job templates run.

Argument parsing only; the work is in `actions`. Template parameters that are unset arrive as empty strings,
which every option here accepts as "not given".
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from condafarm import DEFAULT_GRACE_HOURS, DEFAULT_MIN_FREE_DISK, configure_logging, exit_now
from condafarm import __version__ as condafarm_version

from . import actions
from .cancel import Supervisor
from .messages import Messages
from .session import SessionInfo

EPILOG = """\
Run by the condafarm job bundles and queue environment on Deadline Cloud / OpenJD worker hosts; each command
reports with openjd_progress / openjd_status / openjd_fail lines and exits non-zero on failure (the exit codes
of `condafarm --help`, and 143 when canceled). Credentials come from the session (AWS_PROFILE on Deadline).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="condafarm-worker",
        description="Worker-host side of condafarm's OpenJD job bundles.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"condafarm-worker (condafarm {condafarm_version})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser(
        "enter",
        help="queue environment onEnter: put condafarm on the session PATH and report versions",
        description="Print openjd_env lines that put this condafarm install first on the session's PATH.\n\n"
        "example (queue environment onEnter): condafarm-worker enter",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    p = sub.add_parser(
        "build",
        help="build a recipe and publish its packages to a channel",
        description="Build a rattler-build recipe with condafarm and publish every package it makes (all or\n"
        "none) to the destination channel, with +N build numbers reserved in the channel.\n\n"
        "example: condafarm-worker build --recipe ./recipe --to s3://bucket/Conda/Default --build-number +1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--recipe", required=True, help="recipe.yaml or its folder (the job's attached input)")
    p.add_argument("--to", dest="channel", required=True, help="destination channel")
    p.add_argument("--build-number", default="", help="+N, N, or empty for the recipe's")
    p.add_argument("--channels", default="", help="space-separated channels for build dependencies")
    p.add_argument(
        "--conda-platform",
        "--target-platform",
        default="",
        help="conda platform, e.g. linux-64; must be this host's (default: the host's)",
    )
    p.add_argument("--build-tool", default="", help="rattler-build (recipe.yaml) or conda-build (meta.yaml)")
    p.add_argument("--variant-config", default="", help="rattler-build variant config file")
    p.add_argument("--override-source", default="", help="archive replacing the recipe's first archive source")
    p.add_argument("--override-source2", default="", help="archive replacing the recipe's second archive source")
    p.add_argument("--override-source-dir", default="", help="folder replacing the recipe's folder source")
    p.add_argument("--override-source-sha256", default="", help="expected sha256 of the first archive")
    p.add_argument("--override-package-name", default="", help="package name replacing the recipe's")
    p.add_argument("--override-prefix-length", default="0", help="conda-build's --prefix-length; only 0 works")
    p.add_argument("--fast-build", default="false", help="true: --package-format conda:min")
    p.add_argument("--extra-build-tool-args", default="", help="rattler-build options, e.g. '--no-include-recipe'")
    p.add_argument("--min-free-disk", default=DEFAULT_MIN_FREE_DISK, help="fail early below this free space, e.g. 10G")
    p.add_argument("--work-dir", default="", help="the session's working directory (build output goes there)")
    p.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)  # the supervised child

    p = sub.add_parser(
        "publish",
        help="publish the package files in a folder to a channel",
        description="Publish every .conda/.tar.bz2 file under FOLDER (the job's attached input) to a channel,\n"
        "all or none; a file already in the channel fails the task (exit 5) unless --force true.\n\n"
        "example: condafarm-worker publish --from ./packages --to s3://bucket/Conda/Default",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--from", dest="folder", required=True, help="folder holding the package files")
    p.add_argument("--to", dest="channel", required=True, help="destination channel")
    p.add_argument("--force", default="false", help="true to overwrite files already in the channel")

    p = sub.add_parser(
        "maintain",
        help="check, index, rebuild-index, remove, yank, prune, page or mirror in a channel",
        description="Channel maintenance; every action ends with a check and fails if it finds problems.\n\n"
        "example: condafarm-worker maintain yank --channel s3://bucket/Conda/Default --files tool-1.0-h0_0.conda\n"
        "         condafarm-worker maintain prune --channel s3://bucket/Conda/Dev --keep 5 --grace-hours 24\n"
        "         condafarm-worker maintain mirror --channel s3://bucket/Conda/Mirror",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["check", "index", "rebuild-index", "remove", "yank", "prune", "page", "mirror"])
    p.add_argument("--channel", required=True)
    p.add_argument("--files", default="", help="space-separated file names for remove/yank")
    p.add_argument("--keep", default="", help="prune: keep the newest N build numbers of each name/version/subdir")
    p.add_argument("--newer-than", default="", help="prune: keep builds newer than this many days")
    p.add_argument("--spec", default="", help="prune: only packages matching this match spec")
    p.add_argument(
        "--grace-hours", default=f"{DEFAULT_GRACE_HOURS:g}", help="prune: delete files yanked at least this long ago"
    )
    p.add_argument("--protect-lockfiles", default="", help="prune: space-separated lockfiles or folders to honour")
    return parser


def _path(value: str) -> Path | None:
    text = actions.optional(value)
    return Path(text) if text else None


def run(argv: Sequence[str] | None = None, messages: Messages | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    configure_logging(logging.INFO)
    say = messages or Messages()
    session = SessionInfo.from_env()
    if args.command == "enter":
        return actions.enter(say, session)
    if args.command == "build" and args.in_process:
        return actions.reported(
            say,
            partial(
                actions.build,
                say,
                recipe=Path(args.recipe),
                location=args.channel,
                build_number=actions.optional(args.build_number),
                channels=actions.split_list(args.channels),
                conda_platform=actions.optional(args.conda_platform),
                build_tool=actions.optional(args.build_tool),
                variant_config=_path(args.variant_config),
                override_sources=[p for p in (_path(args.override_source), _path(args.override_source2)) if p],
                override_source_dir=_path(args.override_source_dir),
                override_source_sha256=actions.optional(args.override_source_sha256),
                package_name=actions.optional(args.override_package_name),
                prefix_length=args.override_prefix_length,
                fast_build=actions.is_true(args.fast_build),
                extra_args=args.extra_build_tool_args,
                min_free_disk=args.min_free_disk,
                work_dir=_path(args.work_dir),
            ),
        )
    supervisor = Supervisor(say)
    say.log(f"condafarm {condafarm_version}: {session.describe()}")
    if args.command == "build":
        return supervisor.run_child([sys.executable, "-m", "condafarm_worker", *argv, "--in-process"])
    work: Callable[[], int]
    if args.command == "publish":
        work = partial(actions.publish, say, supervisor, Path(args.folder), args.channel, actions.is_true(args.force))
    else:
        prune = (args.keep, args.newer_than, args.spec, args.grace_hours, args.protect_lockfiles)
        files = actions.split_list(args.files)

        def work() -> int:  # parses inside `reported`, so a bad parameter becomes openjd_fail and exit 2
            rules = actions.PruneRules.from_args(*prune) if args.action == "prune" else None  # only prune reads them
            return actions.maintain(say, supervisor, args.action, args.channel, files, rules)

    return supervisor.run(partial(actions.reported, say, work))


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point; leaves through condafarm's `exit_now` (py-rattler's teardown crash)."""
    if sys.platform == "win32":  # OpenJD reads action output as UTF-8, not the Windows code page
        sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace")  # type: ignore[union-attr]
    exit_now(run(argv))


if __name__ == "__main__":
    main()
