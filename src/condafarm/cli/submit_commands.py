"""`condafarm submit`: package build jobs for a Deadline Cloud queue, one per conda platform."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import AddCommand

ORDER = 40


def _csv(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def cmd_submit(args: argparse.Namespace) -> int:
    import tempfile

    from ..farm.submit import QUEUE_CHANNEL_PLACEHOLDER, Recipe, deadline_config, plan_jobs, queue_channel, submit_jobs

    recipe = Recipe.load(Path(args.recipe))
    config = None if args.dry_run else deadline_config(args.farm_id, args.queue_id)
    channel = args.to or (QUEUE_CHANNEL_PLACEHOLDER if args.dry_run else queue_channel(config))
    plans = plan_jobs(
        recipe,
        channel=channel,
        oses=_csv(args.os) or None,
        platforms=_csv(args.platform) or None,
        extra_channels=args.channel or (),
        build_number=args.build_number,
        bundles=Path(args.bundles) if args.bundles else None,
    )
    if recipe.config_path:
        print(f"{recipe.name}: settings from {recipe.config_path}")
    for i, plan in enumerate(plans, 1):
        print(f"job {i} of {len(plans)}: {plan.platform.name}")
        print(f"  bundle: {plan.base_bundle}")
        print(f"  host requirements: {'  '.join(plan.host_requirements())}")
        for name, value in plan.parameters.items():
            print(f"  -p {name}={value}")
        for name in plan.files:
            print(f"  + {name} (generated from {recipe.config_path.name if recipe.config_path else 'the recipe'})")
    if args.save_bundles:
        for i, plan in enumerate(plans, 1):
            print(f"wrote {plan.write(Path(args.save_bundles) / f'{i:02d}-{plan.platform.name}')}")
    if args.dry_run:
        print(f"dry run: {len(plans)} job(s) not submitted")
        return 0
    with tempfile.TemporaryDirectory(prefix="condafarm-submit-") as work:
        job_ids = submit_jobs(plans, Path(work), config)
    for job_id in job_ids:
        print(f"submitted {job_id}")
    return 0


def register(command: AddCommand) -> None:
    p = command(
        "submit",
        cmd_submit,
        "submit package build jobs to a Deadline Cloud queue (one per platform)",
        "Submit one build job per conda platform to a Deadline Cloud package-building queue, from condafarm's\n"
        "build_linux / build_windows / build_macos job bundles. The recipe folder (and any source archive) is\n"
        "attached to the job. A deadline-cloud.yaml next to the recipe chooses the platforms (condaPlatforms:\n"
        "platform, variant, defaultSubmit, sourceArchiveFilename, sourceDownloadInstructions,\n"
        "additionalHostRequirements, variantConfig) and adds jobParameters. Farm and queue default to the\n"
        "Deadline Cloud CLI's (`deadline config`); the channel: s3://<queue's attachments bucket>/Conda/Default.\n"
        "Without --os or --platform, the recipe's defaultSubmit platforms are built (linux-64 without the file).\n\n"
        "examples:\n"
        "  condafarm submit recipes/blender-4.5 --dry-run\n"
        "  condafarm submit recipes/tool --os linux,windows,macos --to s3://studio-packages/Conda/Default\n"
        "  condafarm submit recipes/tool --platform linux-aarch64 --build-number 3",
    )
    p.add_argument("recipe", help="recipe.yaml, its folder, or a folder with deadline-cloud.yaml and recipe/")
    p.add_argument("--os", action="append", help="linux, windows, macos (comma-separated or repeated)")
    p.add_argument("--platform", action="append", help="exact platform[-variant] from deadline-cloud.yaml, e.g. win-64")
    p.add_argument("--to", help="destination channel (default: s3://<queue's job attachments bucket>/Conda/Default)")
    p.add_argument("-c", "--channel", action="append", help="extra channel for build dependencies (repeatable)")
    p.add_argument("--build-number", help="+N (default +1) or N")
    p.add_argument("--dry-run", action="store_true", help="print each job's bundle and parameters; no AWS call")
    p.add_argument("--save-bundles", metavar="DIR", help="also write each job's bundle into DIR")
    p.add_argument("--farm-id", help="farm (default: the Deadline Cloud CLI's default farm)")
    p.add_argument("--queue-id", help="queue (default: the Deadline Cloud CLI's default queue)")
    p.add_argument("--bundles", metavar="DIR", help="condafarm's job_bundles folder (default: $CONDAFARM_JOB_BUNDLES)")
