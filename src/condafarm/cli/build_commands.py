"""Commands that make packages: build (recipe to published package), convert-recipe and next-build-number."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..console import Progress, parse_size, report_build_failure
from ..defaults import DEFAULT_MIN_FREE_DISK
from ..numbers import BUILD_NUMBER, argument
from .common import AddCommand, add_s3_options, channel_arg, on_terminal, s3_options

ORDER = 30


def cmd_build(args: argparse.Namespace) -> int:
    from .. import BuildFailed, build_recipe

    def log_line(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        report = build_recipe(
            Path(args.recipe),
            channel_arg(args, "to") if args.to else None,
            build_number=args.build_number,
            channels=args.channel or (),
            s3=s3_options(args),
            target_platform=args.target_platform,
            variant_config=[Path(p) for p in args.variant_config or ()],
            output_dir=Path(args.output_dir) if args.output_dir else None,
            keep_build=args.keep_build,
            test=not args.no_test,
            publish=not args.no_publish,
            override_source=Path(args.override_source) if args.override_source else None,
            override_source_sha256=args.override_source_sha256,
            min_free_disk=parse_size(args.min_free_disk),
            dry_run=args.dry_run,
            on_log=None if args.quiet else log_line,
            progress=Progress(on_terminal(args), verb="uploaded", unit="bytes"),
        )
    except BuildFailed as exc:
        report_build_failure(exc, log_line)
        raise
    urls = report.urls or ["-"] * len(report.outputs)
    if report.dry_run:
        for output, url in zip(report.outputs, urls, strict=True):
            print(
                f"would build {output.name} {output.version} build {output.build_string} (number "
                f"{output.build_number}) for {output.subdir} -> {url}"
            )
        return 0
    if report.published is not None:
        for item in report.published.packages:
            print(f"published {item.url} ({item.subdir}, build number {item.build_number})")
    else:
        for path in report.packages:
            print(f"built {path}")
    print(f"{len(report.packages)} package(s) in {report.seconds:.1f}s")
    return 0


def cmd_convert_recipe(args: argparse.Namespace) -> int:
    from .. import convert_recipe

    conversion = convert_recipe(Path(args.meta), Path(args.out) if args.out else None, force=args.force)
    for note in conversion.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {conversion.recipe}")
    if conversion.variants is not None:
        print(f"wrote {conversion.variants}")
    return 0


def cmd_next_build_number(args: argparse.Namespace) -> int:
    from .. import next_build_number

    print(next_build_number(channel_arg(args), args.name, args.version, args.subdir, args.increment))
    return 0


def register(command: AddCommand) -> None:
    p = command(
        "build",
        cmd_build,
        "build a rattler-build recipe and publish its packages to a channel",
        "Build a recipe.yaml (rattler-build's v1 format) or its folder with py-rattler-build, run its tests, and\n"
        "publish every package it makes to the destination channel: all of them, or none. Dependencies come\n"
        "from the destination and the -c channels (s3:// ones with the same S3 options and credentials).\n"
        "Before anything is downloaded it checks the recipe, the source archive, free disk and that the\n"
        "destination accepts writes. With --build-number=+N the number is reserved in the channel, so two jobs\n"
        "building the same recipe at once never make the same filename. On failure: the reason, the end of the\n"
        "build log, the kept build folder and the command for a debug shell there (exit 8); the channel is\n"
        "unchanged. A folder with only a conda-build meta.yaml (or the meta.yaml itself) is converted to a\n"
        "recipe.yaml in a temp copy first, said in the log (see convert-recipe).\n\n"
        "examples:\n"
        "  condafarm build recipes/blender --to s3://studio-packages/Conda/Default --build-number=+1\n"
        "  condafarm build recipe.yaml --to ./channel -c conda-forge --dry-run\n"
        "  condafarm build recipes/houdini --to s3://studio-packages/Conda/Default \\\n"
        "      --override-source houdini-20.5.332-linux.tar.gz --override-source-sha256 9f2c... --min-free-disk 60G",
    )
    p.add_argument("recipe", help="recipe.yaml, or the folder holding it (or a conda-build meta.yaml / its folder)")
    p.add_argument("--to", metavar="CHANNEL", help="destination channel: s3://BUCKET/PREFIX or a folder")
    p.add_argument(
        "--build-number",
        metavar="+N|N",
        help="+N: highest build number of this name and version in the destination plus N (reserved, so "
        "concurrent jobs differ); N: exactly N; default: the recipe's",
    )
    p.add_argument(
        "-c",
        "--channel",
        action="append",
        metavar="CHANNEL",
        help="also take dependencies from this channel (repeatable): a name (conda-forge), URL, folder or s3://",
    )
    p.add_argument(
        "--target-platform", metavar="SUBDIR", help="platform to build for, e.g. linux-64 (default: this one)"
    )
    p.add_argument(
        "--variant-config",
        action="append",
        metavar="FILE",
        help="variant config file (repeatable; default: variants.yaml next to the recipe)",
    )
    p.add_argument(
        "--output-dir",
        metavar="DIR",
        help="where packages and build folders go (default: a new temp folder, removed after a successful publish)",
    )
    p.add_argument("--keep-build", action="store_true", help="keep the build folder (and the output folder)")
    p.add_argument("--no-test", action="store_true", help="skip the recipe's tests")
    p.add_argument("--no-publish", action="store_true", help="build only: the packages stay in the output folder")
    p.add_argument(
        "--override-source", metavar="PATH", help="build from this local archive instead of the recipe's source"
    )
    p.add_argument("--override-source-sha256", metavar="HEX", help="fail unless the override archive has this sha256")
    p.add_argument(
        "--min-free-disk",
        default=DEFAULT_MIN_FREE_DISK,
        metavar="SIZE",
        help="fail before downloading anything if the output or temp folder has less free space (default: "
        f"{DEFAULT_MIN_FREE_DISK}; "
        "big DCC apps need tens of GB, e.g. 60G)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="render and print name, version, build string and number, subdir and destination URL; touch nothing",
    )
    add_s3_options(p)

    p = command(
        "convert-recipe",
        cmd_convert_recipe,
        "convert a conda-build recipe (meta.yaml) to a rattler-build recipe.yaml for review",
        "Write the rattler-build recipe.yaml for a conda-build recipe: {% set %} variables and environ become\n"
        "context and env.get(), # [selector] lines become if:/then:, and sources, build options and scripts\n"
        "(build.sh, bld.bat, script_env), requirements, run_exports, tests and about move to their rattler-build\n"
        "places. A conda_build_config.yaml beside it becomes variants.yaml. What is dropped is printed as notes\n"
        "(and kept atop the recipe); what cannot be converted (outputs:, {% if %} blocks, load_setup_py_data()...)\n"
        "fails naming its line (exit 8). `condafarm build` converts a folder that has only a meta.yaml by itself;\n"
        "this command writes the result so you can review it and keep it.\n\n"
        "examples:\n"
        "  condafarm convert-recipe conda_recipes/3dsmax-2025/recipe\n"
        "  condafarm convert-recipe conda_recipes/keyshot-2025/recipe --out recipes/keyshot-2025",
    )
    p.add_argument("meta", metavar="RECIPE", help="the conda-build recipe folder, or its meta.yaml")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write recipe.yaml there, with a copy of the recipe folder's files (default: beside the meta.yaml)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing recipe.yaml (and variants.yaml)")

    p = command(
        "next-build-number",
        cmd_next_build_number,
        "print the highest build number of a package version in a channel, plus N",
        "Print the highest build number of NAME VERSION in the channel's SUBDIR and noarch/ repodata, plus N\n"
        "(default 1). With no such package, or no channel yet, the highest counts as 0: +1 prints 1, as\n"
        "`rattler-build publish --build-number=+1` does. To reserve the number for a build, use\n"
        "`condafarm build --build-number=+N` instead: two jobs running this at once get the same answer.\n\n"
        "example: condafarm next-build-number s3://studio-packages/Conda/Default blender 4.5.1 --subdir linux-64",
    )
    p.add_argument("channel", help="s3://BUCKET/PREFIX, file:///path or a folder")
    p.add_argument("name", help="package name, e.g. blender")
    p.add_argument("version", help="package version, e.g. 4.5.1")
    p.add_argument("--subdir", default="noarch", help="platform subdir to look in besides noarch (default: noarch)")
    p.add_argument(
        "--increment", type=argument(BUILD_NUMBER), default=1, metavar="N", help="added to the highest (default: 1)"
    )
    add_s3_options(p)
