"""`condafarm submit` (package build jobs for a Deadline Cloud queue, one per conda platform) and
`condafarm farm-files` (the job bundles and queue environments, written out for an administrator)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import AddCommand

ORDER = 40


def _csv(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def cmd_submit(args: argparse.Namespace) -> int:
    import tempfile

    from .. import JobCheck, Recipe, check_job, plan_jobs, refuse_failures, submit_jobs, submit_target

    recipe = Recipe.load(Path(args.recipe))
    target = submit_target(
        args.to, args.bucket, farm_id=args.farm_id, queue_id=args.queue_id, queue=args.queue, dry_run=args.dry_run
    )
    print(f"queue: {target.queue}")
    plans = plan_jobs(
        recipe,
        channel=target.channel,
        oses=_csv(args.os) or None,
        platforms=_csv(args.platform) or None,
        all_platforms=args.all_platforms,
        extra_channels=args.channel or (),
        build_number=args.build_number,
        fast_build=args.fast_build,
        extra_args=args.extra_build_tool_args,
        bundles=Path(args.bundles) if args.bundles else None,
    )
    if recipe.config_path:
        print(f"{recipe.name}: settings from {recipe.config_path}")
    checks: list[JobCheck] = []
    for i, plan in enumerate(plans, 1):
        print(f"job {i} of {len(plans)}: {plan.platform.name}")
        print(f"  bundle: {plan.base_bundle}")
        print(f"  host requirements: {'  '.join(plan.host_requirements())}")
        for name, value in plan.parameters.items():
            print(f"  -p {name}={value}")
        for name in plan.files:
            print(f"  + {name} (generated from {recipe.config_path.name if recipe.config_path else 'the recipe'})")
        check = check_job(plan.parameters, plan.files)
        checks.append(check)
        if check.error:
            print(f"  would fail: {check.error}")
        for package in check.packages:
            print(f"  renders: {package}")
        if not check.error and not check.packages:
            print("  renders: nothing (build.skip skips every variant on this platform)")
    if args.save_bundles:
        for i, plan in enumerate(plans, 1):
            print(f"wrote {plan.write(Path(args.save_bundles) / f'{i:02d}-{plan.platform.name}')}")
    if args.dry_run:
        failing = sum(1 for c in checks if c.error)
        print(f"dry run: {len(plans)} job(s) not submitted" + (f"; {failing} would fail" if failing else ""))
    refuse_failures([p.platform.name for p in plans], checks)
    if args.dry_run:
        return 0
    with tempfile.TemporaryDirectory(prefix="condafarm-submit-") as work:
        job_ids = submit_jobs(plans, Path(work), target.config)
    for job_id in job_ids:
        print(f"submitted {job_id}")
    return 0


def cmd_farm_files(args: argparse.Namespace) -> int:
    from .. import write_farm_files

    for folder in write_farm_files(Path(args.dir), force=args.force):
        print(f"wrote {folder}")
    return 0


def register(command: AddCommand) -> None:
    p = command(
        "submit",
        cmd_submit,
        "submit package build jobs to a Deadline Cloud queue (one per platform)",
        "Submit one build job per conda platform to a Deadline Cloud package-building queue, from condafarm's\n"
        "build_linux / build_windows / build_macos job bundles. The recipe folder (and any source archive) is\n"
        "attached to the job. A deadline-cloud.yaml next to the recipe (the deadline-cloud-samples' format)\n"
        "chooses the platforms and adds jobParameters; see docs/farm.md. The queue is the farm's queue named\n"
        "--queue (default: Package) or the only one whose name starts so, never the Deadline CLI's default\n"
        "queue; the farm is the CLI's (`deadline config`). The channel: --to s3://BUCKET/PREFIX, or a name for\n"
        "s3://<the queue's job attachments bucket>/Conda/NAME (default: Default), as the samples' --s3-channel.\n"
        "Without --os or --platform, the recipe's defaultSubmit platforms are built; without the file, the\n"
        "platforms the recipe builds (build.skip, scripts; linux-64 when it builds everywhere). Every job is\n"
        "rendered first as its worker would: if one would fail, nothing is submitted (exit 8).\n\n"
        "examples:\n"
        "  condafarm submit recipes/blender-4.5 --dry-run\n"
        "  condafarm submit recipes/tool --os linux,windows,macos --to s3://studio-packages/Conda/Default\n"
        "  condafarm submit recipes/tool -p 'linux-*' --to Testing -q 'Package Build Queue'",
    )
    p.add_argument(
        "recipe", help="recipe.yaml or meta.yaml, its folder, or a folder with deadline-cloud.yaml and recipe/"
    )
    p.add_argument("--os", action="append", help="linux, windows, macos (comma-separated or repeated)")
    p.add_argument(
        "-p",
        "--platform",
        "--conda-platform",
        dest="platform",
        action="append",
        help="platform[-variant] from deadline-cloud.yaml, globs allowed, e.g. win-64 or 'linux-*' (repeatable)",
    )
    p.add_argument("--all-platforms", action="store_true", help="every platform of deadline-cloud.yaml")
    p.add_argument(
        "--to",
        "--s3-channel",
        dest="to",
        help="s3://BUCKET/PREFIX, or a channel NAME for s3://<queue's attachments bucket>/Conda/NAME (default Default)",
    )
    p.add_argument("--bucket", help="the bucket for a channel NAME (default: the queue's job attachments bucket)")
    p.add_argument("-c", "--channel", action="append", help="extra channel for build dependencies (repeatable)")
    p.add_argument("--build-number", help="+N (default +1) or N")
    p.add_argument("-f", "--fast-build", action="store_true", help="package with --package-format conda:min")
    p.add_argument(
        "-a", "--extra-build-tool-args", metavar="ARGS", help="rattler-build options, e.g. '--no-include-recipe'"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print each job's bundle, parameters and what it renders (or why it would fail); no AWS call",
    )
    p.add_argument("--save-bundles", metavar="DIR", help="also write each job's bundle into DIR")
    p.add_argument("--farm-id", help="farm (default: the Deadline Cloud CLI's default farm)")
    p.add_argument(
        "-q",
        "--queue",
        default="Package",
        help="the package-building queue's name or name prefix (default: Package); -q as in the samples' "
        "submit-package-job (quiet is --quiet here)",
    )
    p.add_argument("--queue-id", help="the package-building queue's id (instead of --queue)")
    p.add_argument("--bundles", metavar="DIR", help="condafarm's job_bundles folder (default: the installed one)")

    p = command(
        "farm-files",
        cmd_farm_files,
        "write condafarm's job bundles, queue environments and host setup scripts into a folder",
        "Write the farm files an administrator uploads or attaches: DIR/job_bundles (the build, publish and\n"
        "maintenance job bundles), DIR/queue_environments (render_conda.yaml for render queues, conda_build.yaml\n"
        "for the package-building queue) and DIR/host_setup (the scripts that install condafarm on worker\n"
        "hosts). They come with the installed condafarm; no checkout is needed.\n\n"
        "example:\n"
        "  condafarm farm-files write ./farm",
    )
    p.add_argument("action", choices=["write"], help="write: copy the files into DIR")
    p.add_argument("dir", metavar="DIR", help="folder to write into (created if missing)")
    p.add_argument("--force", action="store_true", help="overwrite files already in DIR")
