"""Commands for render environments: env create|enter|exit|export|pack."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import AddCommand, add_s3_options, s3_options

ORDER = 40

_CHANNELS_HELP = (
    "space-separated channels in priority order: s3://BUCKET/PREFIX, https://..., a folder, or a name such as "
    "deadline-cloud or conda-forge, resolved through this host's condarc files as conda does (custom_channels, "
    "channel_alias, ...); empty: conda's default channels"
)

#: What `--clean` and `--recreate` accept, in any case: yes/no words, and the samples' NamedCondaEnvAction values.
_SWITCH_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_SWITCH_WORDS.update(remove_and_create=True, activate=False)


class _LastSet(argparse.Action):
    """A repeatable option whose last set value wins; "" or a negative number leaves the earlier one. The render
    queue environment passes condafarm's parameter, then the samples' one, which is unset by default."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        if values == "" or (isinstance(values, float) and values < 0):
            return
        if self.dest == "priority":
            values = values.lower()
            if values not in ("strict", "flexible", "disabled"):
                parser.error(f"argument --priority: {values!r} is not one of strict, flexible, disabled")
        setattr(namespace, self.dest, values)


class _Switch(argparse.Action):
    """A flag that may also take a value: `--clean` alone is yes; `--clean True|False` as the samples' RunCondaClean
    spells it; `--recreate REMOVE_AND_CREATE|ACTIVATE` as their NamedCondaEnvAction does."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        value = _SWITCH_WORDS.get(str(values).lower()) if values is not None else True
        if value is None:
            parser.error(f"argument {option}: {values!r} is not one of {self.metavar}")
        setattr(namespace, self.dest, value)


def _spec(args: argparse.Namespace) -> Any:
    """The request, or None for no packages; says what each channel name stands for on this host."""
    from ..env import make_spec
    from ..env.condarc import explain_channels, load_condarc, needs_condarc
    from ..env.spec import words
    from ..redact import redact

    if not (args.packages or "").split():
        return None
    names = words(args.channels or "")
    condarc = load_condarc() if needs_condarc(names) else None
    spec = make_spec(args.packages, names, args.priority, name=getattr(args, "name", None) or "", condarc=condarc)
    if not args.quiet:
        for line in explain_channels(names, condarc):
            print(redact(line), flush=True)  # condarc URLs may carry user:password@ or an anaconda.org /t/TOKEN/
    return spec


def _lockfile(args: argparse.Namespace) -> Path | None:
    return Path(args.lockfile) if args.lockfile else None


def _cache_dir(args: argparse.Namespace) -> Path:
    from ..env import default_cache_root

    return Path(args.cache_dir) if args.cache_dir else default_cache_root()


def _say(args: argparse.Namespace) -> Any:
    return (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))


def cmd_create(args: argparse.Namespace) -> int:
    from ..env import create_environment

    manifest = create_environment(
        Path(args.prefix),
        _spec(args),
        lockfile=_lockfile(args),
        cache_dir=_cache_dir(args),
        s3=s3_options(args),
        force=args.force,
    )
    for package in manifest.locked:
        name, version, build = package.name_version_build
        print(f"  {name:<28} {version:<14} {build:<20} {package.url}")
    print(f"created {Path(args.prefix).absolute()} with {len(manifest.locked)} package(s)")
    return 0


def cmd_enter(args: argparse.Namespace) -> int:
    from ..env import enter_environment, openjd_lines

    spec, lockfile = _spec(args), _lockfile(args)
    if spec is None and lockfile is None:
        print("no packages requested (CondaPackages is empty): no environment for this session")
        return 0

    def enter(request: Any, locked: Path | None) -> Any:
        return enter_environment(
            request,
            lockfile=locked,
            reuse=args.reuse == "automatic" and args.name != "",  # the samples' NamedCondaEnv="": this session only
            recreate=args.recreate,
            clean=args.clean,
            cache_root=_cache_dir(args),
            session_dir=Path(args.session_dir) if args.session_dir else None,
            update_after_minutes=args.update_after_minutes,
            s3=s3_options(args),
            say=_say(args),
        )

    records = _job_records(args) if spec is not None and lockfile is None else None
    if records is None:
        entered = enter(spec, lockfile)
    else:
        from ..env.job_record import enter_for_job

        entered = enter_for_job(spec, records, enter, _say(args))
    for line in openjd_lines(entered.changes):
        print(line, flush=True)
    return 0


def _job_records(args: argparse.Namespace) -> Any:
    """Where this job's package records live, or None when job-consistent environments are off or unset."""
    import os

    from ..env.job_record import JobRecords
    from ..storage.location import parse_channel

    location = args.job_records or os.environ.get("CONDAFARM_JOB_RECORDS", "")
    job_id = args.job_id or os.environ.get("DEADLINE_JOB_ID", "")
    if args.job_consistency == "disabled" or not location.strip():
        return None
    if not job_id:
        _say(args)("job-consistent packages are off: no job id (--job-id or DEADLINE_JOB_ID)")
        return None
    return JobRecords(parse_channel(location.strip(), s3_options(args)), job_id)


def cmd_exit(args: argparse.Namespace) -> int:
    from ..env import exit_environment

    removed = exit_environment(
        session_dir=Path(args.session_dir) if args.session_dir else None,
        cache_root=_cache_dir(args),
        cleanup_after_hours=args.cleanup_after_hours,
        say=_say(args),
    )
    if not args.quiet:
        print(f"removed {len(removed)} environment(s)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..env import export_environment

    exported = export_environment(Path(args.prefix), args.name)
    if args.lockfile:
        Path(args.lockfile).write_text(exported.lockfile, encoding="utf-8")
    if args.yaml:
        Path(args.yaml).write_text(exported.yaml, encoding="utf-8")
    if not args.yaml:
        sys.stdout.write(exported.yaml)
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from ..env import pack_environment

    packed = pack_environment(Path(args.prefix), Path(args.archive))
    print(
        f"packed {packed.files} files ({packed.size / 1e6:.1f} MB) into {packed.archive}; {packed.relocated} file(s) "
        f"embed the prefix. Unpack: tar -xzf {packed.archive.name} -C DEST && python DEST/condafarm-unpack.py"
    )
    return 0


def _request_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--packages", default="", help="space-separated match specs, none holding a space, e.g. 'blender=4.5 mtoa>=5.4'"
    )
    p.add_argument("--channels", default="", help=_CHANNELS_HELP)
    p.add_argument(
        "--priority",
        default="strict",
        action=_LastSet,
        metavar="strict|flexible|disabled",
        help="channel priority: strict (a package comes only from the first channel that has it), flexible, "
        "or disabled (highest version from any channel), any case; default strict. Repeatable: the last "
        "non-empty one wins",
    )
    p.add_argument("--lockfile", help="install exactly the files this explicit lockfile lists (no solve)")
    p.add_argument(
        "--cache-dir", help="package and environment cache (default: $CONDAFARM_ENV_CACHE or the user cache)"
    )
    add_s3_options(p)


def register(command: AddCommand) -> None:
    env = command(
        "env",
        lambda args: 2,
        "create, enter, export and pack render environments",
        "Render environments from conda channels (S3, https, folders, conda-forge) with py-rattler; no conda on\n"
        "the host. See `condafarm env COMMAND --help`.\n\n"
        "example: condafarm env create ./blender --packages 'blender=4.5' --channels s3://studio/Conda/Default",
    )
    sub = env.add_subparsers(dest="env_command", metavar="COMMAND", required=True)

    def subcommand(name: str, func: Any, help: str, desc: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=desc, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
        p.add_argument("-q", "--quiet", action="store_true", help="only errors and the result")
        p.set_defaults(func=func)
        return p

    p = subcommand(
        "create",
        cmd_create,
        "create an environment at a path",
        "Solve the packages from the channels (or take a lockfile's exact files) and install them at PREFIX.\n"
        "Creation is atomic: PREFIX appears complete or not at all.\n\n"
        "examples:\n"
        "  condafarm env create ./env --packages 'blender=4.5 mtoa' \\\n"
        "      --channels 's3://studio/Conda/Default conda-forge'\n"
        "  condafarm env create ./env --lockfile job-1234.lock.txt",
    )
    p.add_argument("prefix", help="where the environment goes (must not exist unless --force)")
    p.add_argument("--force", action="store_true", help="replace an existing environment at PREFIX")
    _request_options(p)

    p = subcommand(
        "enter",
        cmd_enter,
        "get a job's environment and print its activation for OpenJD",
        "For a queue environment's onEnter action: reuse the host's cached environment for these packages and\n"
        "channels (or create it atomically), log and save its exact package list, and print the activation as\n"
        "`openjd_env: NAME=VALUE` lines (PATH, CONDA_PREFIX, env_vars.d, activate.d scripts).\n\n"
        "example:\n"
        "  condafarm env enter --packages 'blender=4.5' --channels s3://studio/Conda/Default \\\n"
        "      --session-dir SESSION_DIR --update-after-minutes 600",
    )
    _request_options(p)
    p.add_argument(
        "--session-dir",
        help="the OpenJD session folder (made if missing): gets condafarm-env.lock.txt (and the env with --reuse "
        "session)",
    )
    p.add_argument(
        "--reuse",
        choices=["automatic", "session"],
        default="automatic",
        type=str.lower,
        help="automatic: reuse the host's cached environment for this request (default); session: make a fresh "
        "one in the session folder, removed by `env exit`",
    )
    p.add_argument(
        "--update-after-minutes",
        type=float,
        action=_LastSet,
        help="solve again when the cached environment was last solved this long ago (default: never). "
        "Repeatable: the last one that is not negative wins",
    )
    p.add_argument(
        "--name",
        help="a named environment (the samples' NamedCondaEnv): jobs giving the same name and request share it; "
        "AUTOMATIC (default) names it after the request; an empty name means --reuse session",
    )
    p.add_argument(
        "--recreate",
        nargs="?",
        action=_Switch,
        default=False,
        metavar="REMOVE_AND_CREATE|ACTIVATE",
        help="solve and install the cached environment anew (the samples' NamedCondaEnvAction=REMOVE_AND_CREATE); "
        "jobs still running in the old one keep it",
    )
    p.add_argument(
        "--clean",
        nargs="?",
        action=_Switch,
        default=False,
        metavar="True|False",
        help="first empty this host's package and repodata caches (the samples' RunCondaClean, `conda clean "
        "--all`); cached environments stay",
    )
    p.add_argument(
        "--job-records",
        metavar="LOCATION",
        help="where each job's exact package list is kept so that every session of a job gets the same packages: "
        "an S3 prefix or folder the queue role may write, e.g. s3://JOB-ATTACHMENTS-BUCKET/condafarm-jobs "
        "(default: $CONDAFARM_JOB_RECORDS; empty: each session solves on its own)",
    )
    p.add_argument("--job-id", help="the job the session belongs to (default: $DEADLINE_JOB_ID)")
    p.add_argument(
        "--job-consistency",
        choices=["enabled", "disabled"],
        default="enabled",
        type=str.lower,
        help="disabled: solve in every session even where job records are configured (per job)",
    )

    p = subcommand(
        "exit",
        cmd_exit,
        "clean up after a session",
        "For a queue environment's onExit action: remove the session's own environment and cached\n"
        "environments no job used for --cleanup-after-hours.\n\n"
        "example: condafarm env exit --session-dir SESSION_DIR --cleanup-after-hours 96",
    )
    p.add_argument("--session-dir", help="the OpenJD session folder given to `env enter` (must exist)")
    p.add_argument("--cache-dir", help="the environment cache (default: $CONDAFARM_ENV_CACHE or the user cache)")
    p.add_argument("--cleanup-after-hours", type=float, help="remove cached environments unused this long")

    p = subcommand(
        "export",
        cmd_export,
        "write an environment's pinned YAML and explicit lockfile",
        "Print (or write) a pinned environment YAML and write an explicit lockfile (URL + sha256 per file)\n"
        "for an environment condafarm created; `env create --lockfile` recreates exactly that set.\n\n"
        "example: condafarm env export ./env --yaml env.yml --lockfile env.lock.txt",
    )
    p.add_argument("prefix")
    p.add_argument("--yaml", help="write the pinned YAML here (default: print it)")
    p.add_argument("--lockfile", help="write the explicit lockfile here")
    p.add_argument("--name", help="environment name in the YAML (default: the folder name)")

    p = subcommand(
        "pack",
        cmd_pack,
        "pack an environment into a relocatable .tar.gz",
        "Archive an environment for hosts with no access to the channel. Unpack anywhere, then run\n"
        "`python DEST/condafarm-unpack.py` to rewrite the paths packages embedded.\n\n"
        "example: condafarm env pack ./env blender-4.5.tar.gz",
    )
    p.add_argument("prefix")
    p.add_argument("archive", help="the .tar.gz to write")
