"""Commands for render environments: env create|enter|exit|export|pack|image."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..numbers import DURATION, OPTIONAL_DURATION, argument
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
    from .. import read_request
    from ..redaction import redact

    request = read_request(
        args.packages or "", args.channels or "", args.priority, name=getattr(args, "name", None) or ""
    )
    if not args.quiet:
        for line in request.explained:
            print(redact(line), flush=True)  # condarc URLs may carry user:password@ or an anaconda.org /t/TOKEN/
    return request.spec


def _lockfile(args: argparse.Namespace) -> Path | None:
    return Path(args.lockfile) if args.lockfile else None


def _cache_dir(args: argparse.Namespace) -> Path:
    from .. import default_cache_root

    return Path(args.cache_dir) if args.cache_dir else default_cache_root()


def _say(args: argparse.Namespace) -> Any:
    return (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))


def cmd_create(args: argparse.Namespace) -> int:
    from .. import create_environment

    manifest = create_environment(
        Path(args.prefix),
        _spec(args),
        lockfile=_lockfile(args),
        cache_dir=_cache_dir(args),
        s3=s3_options(args),
        force=args.force,
        offline_only=args.offline,
    )
    for package in manifest.locked:
        name, version, build = package.name_version_build
        print(f"  {name:<28} {version:<14} {build:<20} {package.url}")
    print(f"created {Path(args.prefix).absolute()} with {len(manifest.locked)} package(s)")
    return 0


def cmd_enter(args: argparse.Namespace) -> int:
    from .. import enter_environment, openjd_lines

    spec, lockfile = _spec(args), _lockfile(args)
    if spec is None and lockfile is None:
        print("no packages requested (CondaPackages is empty): no environment for this session")
        return 0

    def enter(request: Any, locked: Path | None, job_record: bool = False) -> Any:
        return enter_environment(
            request,
            lockfile=locked,
            job_record=job_record,
            reuse=args.reuse == "automatic" and args.name != "",  # the samples' NamedCondaEnv="": this session only
            recreate=args.recreate,
            clean=args.clean,
            cache_root=_cache_dir(args),
            session_dir=Path(args.session_dir) if args.session_dir else None,
            update_after_minutes=args.update_after_minutes,
            s3=s3_options(args),
            artifacts_dir=Path(args.artifacts_dir) if args.artifacts_dir else None,
            say=_say(args),
            offline_only=args.offline,
        )

    records = _job_records(args) if spec is not None and lockfile is None else None
    if records is None:
        entered = enter(spec, lockfile)
    else:
        from .. import enter_for_job

        entered = enter_for_job(spec, records, enter, _say(args))
    for line in openjd_lines(entered.changes):
        print(line, flush=True)
    return 0


def _job_records(args: argparse.Namespace) -> Any:
    from .. import JobRecords

    return JobRecords.for_session(
        args.job_records, args.job_id, consistency=args.job_consistency, s3=s3_options(args), say=_say(args)
    )


def cmd_exit(args: argparse.Namespace) -> int:
    from .. import exit_environment

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
    from .. import export_environment

    exported = export_environment(
        Path(args.prefix), args.name, args.platform, cache_dir=_cache_dir(args), s3=s3_options(args)
    )
    exported.write(
        **{f: Path(getattr(args, f)) for f in ("lockfile", "conda_lock", "pixi_lock", "yaml") if getattr(args, f)}
    )
    if not args.yaml:
        sys.stdout.write(exported.yaml)
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from .. import pack_environment, pack_installer

    if args.installer:
        packed = pack_installer(Path(args.prefix), Path(args.archive))
        print(
            f"packed {packed.files} files ({packed.size / 1e6:.1f} MB) into the installer {packed.archive}; "
            f"{packed.relocated} file(s) embed the prefix. Install: {packed.install}"
        )
        return 0
    packed = pack_environment(Path(args.prefix), Path(args.archive))
    print(
        f"packed {packed.files} files ({packed.size / 1e6:.1f} MB) into {packed.archive}; {packed.relocated} file(s) "
        f"embed the prefix. Unpack: tar -xzf {packed.archive.name} -C DEST && python DEST/condafarm-unpack.py"
    )
    return 0


def cmd_image(args: argparse.Namespace) -> int:
    from .. import UsageError, build_image, parse_reference, push_image

    output = Path(args.output)
    if args.push:
        parse_reference(args.push)
        if output.suffix == ".tar":
            raise UsageError("--push sends an image layout folder; give OUTPUT without .tar")
    image = build_image(
        Path(args.prefix),
        output,
        tag=args.tag,
        image_prefix=args.image_prefix,
        base=args.base,
        entrypoint=args.entrypoint.split() if args.entrypoint else (),
    )
    print(f"wrote {image.output} ({image.layers} layers, manifest {image.manifest.digest}, tag {image.tag})")
    if args.push:
        pushed = push_image(image.output, args.push, insecure=args.insecure)
        requests = ", ".join(f"{method} {count}" for method, count in sorted(pushed.requests.items()))
        print(
            f"pushed {pushed.reference}: {pushed.uploaded} blob(s) uploaded ({pushed.bytes / 1e6:.1f} MB), "
            f"{pushed.skipped} already there; requests: {requests}"
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
    p.add_argument(
        "--lockfile",
        help="install exactly the files this lockfile lists for this host's platform (no solve): an explicit "
        "lockfile, a conda-lock.yml or a pixi.lock",
    )
    p.add_argument(
        "--cache-dir", help="package and environment cache (default: $CONDAFARM_ENV_CACHE or the user cache)"
    )
    p.add_argument(
        "--offline",
        nargs="?",
        action=_Switch,
        default=False,
        metavar="True|False",
        help="prove the environment needs nothing but its channels: any request (or package URL) outside them "
        "fails the command with exit 10, naming it (a farm without internet; see docs/mirror.md)",
    )
    add_s3_options(p)


def register(command: AddCommand) -> None:
    env = command(
        "env",
        lambda args: 2,
        "create, enter, export, pack and image render environments",
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
        type=argument(OPTIONAL_DURATION),
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
        "(default: $CONDAFARM_JOB_RECORDS; empty: each session solves on its own). A record installs only if "
        "its files are in --channels and make an environment for --packages; else the session stops (exit 9)",
    )
    p.add_argument("--job-id", help="the job the session belongs to (default: $DEADLINE_JOB_ID)")
    p.add_argument(
        "--artifacts-dir",
        metavar="FOLDER",
        help="also leave the environment's lockfiles (explicit, conda-lock.yml, pixi.lock) and pinned YAML here, "
        "e.g. where the job's outputs go, so a render can be reproduced later (empty: don't)",
    )
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
    p.add_argument("--cleanup-after-hours", type=argument(DURATION), help="remove cached environments unused this long")

    p = subcommand(
        "export",
        cmd_export,
        "write an environment's pinned YAML and lockfiles (explicit, conda-lock.yml, pixi.lock)",
        "Print (or write) a pinned environment YAML and write lockfiles for an environment condafarm created:\n"
        "an explicit lockfile (URL + sha256 per file), conda-lock's conda-lock.yml and pixi's pixi.lock. Each\n"
        "names the request and channels it came from; `env create --lockfile` recreates exactly that set from\n"
        "any of them. The environment's platform is read from the environment itself; each --platform more is\n"
        "solved from the same request and channels.\n\n"
        "example: condafarm env export ./env --yaml env.yml --lockfile env.lock.txt \\\n"
        "    --conda-lock conda-lock.yml --pixi-lock pixi.lock --platform win-64",
    )
    p.add_argument("prefix")
    p.add_argument("--yaml", help="write the pinned YAML here (default: print it)")
    p.add_argument("--lockfile", help="write the explicit lockfile here")
    p.add_argument("--conda-lock", metavar="FILE", help="write conda-lock's conda-lock.yml here")
    p.add_argument("--pixi-lock", metavar="FILE", help="write pixi's pixi.lock here")
    p.add_argument(
        "--platform",
        action="append",
        default=[],
        help="also lock this platform in conda-lock.yml and pixi.lock (repeatable), e.g. win-64",
    )
    p.add_argument("--name", help="environment name in the YAML (default: the folder name)")
    p.add_argument(
        "--cache-dir", help="repodata cache for --platform (default: $CONDAFARM_ENV_CACHE or the user cache)"
    )
    add_s3_options(p)

    p = subcommand(
        "pack",
        cmd_pack,
        "pack an environment into a relocatable .tar.gz, or a self-extracting installer",
        "Archive an environment for hosts with no access to the channel. Unpack anywhere, then run\n"
        "`python DEST/condafarm-unpack.py` to rewrite the paths packages embedded. With --installer, write\n"
        "one self-extracting file instead, for hosts with no Python: an sh script for a Linux or macOS\n"
        "environment (`sh FILE PREFIX`), a .bat for a Windows one (`FILE.bat PREFIX`, through Windows\n"
        "PowerShell). It installs the environment at PREFIX (new or empty) with the embedded paths rewritten.\n\n"
        "examples:\n"
        "  condafarm env pack ./env blender-4.5.tar.gz\n"
        "  condafarm env pack ./env blender-4.5.sh --installer",
    )
    p.add_argument("prefix")
    p.add_argument("archive", help="the .tar.gz (or with --installer, the .sh or .bat) to write")
    p.add_argument(
        "--installer",
        action="store_true",
        help="write a self-extracting installer instead: sh for Linux and macOS, .bat for Windows environments",
    )

    p = subcommand(
        "image",
        cmd_image,
        "build an OCI image of an environment (no Docker, no root) and push it to a registry",
        "Write an OCI image of the environment at PREFIX: one layer per package (the same package is the same\n"
        "layer in every image, so registries and hosts keep it once), the environment at --image-prefix, its\n"
        "activation in the image's Env. OUTPUT is an OCI layout folder, or a .tar of one (oci-archive).\n"
        "--push sends it to a registry over the OCI distribution API; blobs the registry has are skipped.\n\n"
        "examples:\n"
        "  condafarm env image ./env render-image --tag 4.5 --push registry.studio:5000/render/blender:4.5\n"
        "  condafarm env image ./env render.tar --base debian-layout:12 --entrypoint blender",
    )
    p.add_argument("prefix", help="an environment condafarm created (linux-64 or linux-aarch64)")
    p.add_argument("output", help="the OCI layout folder to write (or a .tar of one); must not exist")
    p.add_argument("--tag", default="latest", help="the image's tag in the layout (default latest)")
    p.add_argument(
        "--image-prefix", default="/opt/env", help="where the environment lives in the image (default /opt/env)"
    )
    p.add_argument(
        "--base",
        metavar="LAYOUT[:TAG]",
        help="an OCI layout folder whose image goes below (e.g. from `skopeo copy docker://debian:12 oci:LAYOUT:12`); "
        "default: none, the image holds only the environment",
    )
    p.add_argument("--entrypoint", help="the image's entrypoint, space-separated (it runs with the activation)")
    p.add_argument("--push", metavar="HOST/NAME:TAG", help="push the image to this registry reference")
    p.add_argument(
        "--insecure", action="store_true", help="plain HTTP to the registry (always so for 127.0.0.1 and localhost)"
    )
