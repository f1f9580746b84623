"""`rattler-build build` options given as text (the samples' `ExtraBuildToolArgs`), as py-rattler-build settings.

py-rattler-build exposes only some of the command's options; each of those is honoured, and every other option
is refused with one line saying what to do instead, so a job never builds differently from what was asked.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ..errors import UsageError

#: rattler-build options py-rattler-build has no setting for, and what to do instead.
_REFUSED = {
    "--target-platform": "set the job's CondaPlatform (and CpuArch) instead",
    "--build-platform": "the job builds on its host's platform; choose the host with CpuArch",
    "--host-platform": "the job builds on its host's platform; choose the host with CpuArch",
    "--build-number": "set the job's BuildNumber instead",
    "--output-dir": "the job builds in its session folder and publishes to DestinationChannel",
    "--recipe": "set the job's RecipeDir instead",
    "--recipe-dir": "set the job's RecipeDir instead",
    "-m": "attach the file as the job's VariantConfigFile instead",
    "--variant-config": "attach the file as the job's VariantConfigFile instead",
    "--ignore-recipe-variants": "attach a VariantConfigFile: it replaces the recipe's variants.yaml",
    "--skip-existing": "condafarm gives every build a new build number (+N), so none exists to skip: drop it",
    "--render-only": "use `condafarm build --dry-run` to render without building",
    "--with-solve": "use `condafarm build --dry-run` to render without building",
    "--up-to": "not available through py-rattler-build: drop it",
    "--sandbox": "not available through py-rattler-build: drop it",
    "--extra-meta": "not available through py-rattler-build: drop it",
    "--exclude-newer": "not available through py-rattler-build: drop it",
    "-q": "the task log always gets rattler-build's whole build log: drop it",
    "--quiet": "the task log always gets rattler-build's whole build log: drop it",
    "-v": "the task log always gets rattler-build's whole build log: drop it",
    "--verbose": "the task log always gets rattler-build's whole build log: drop it",
    "--log-style": "the task log always gets rattler-build's whole build log: drop it",
    "--color": "the task log always gets rattler-build's whole build log: drop it",
    "--wrap-log-lines": "the task log always gets rattler-build's whole build log: drop it",
}


@dataclass(frozen=True)
class ToolOptions:
    """Build settings beyond the recipe: what `parse_tool_args` understood, as py-rattler-build takes them."""

    channels: tuple[str, ...] = ()
    test: bool = True
    keep_build: bool = False
    package_format: str | None = None
    no_include_recipe: bool = False
    no_build_id: bool = False
    experimental: bool = False
    #: Keyword arguments of py-rattler-build's `ToolConfiguration` (compression threads, channel priority, ...).
    tool_config: dict[str, Any] = field(default_factory=dict)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"ExtraBuildToolArgs: {message}")


def _parser() -> _Parser:
    p = _Parser(prog="ExtraBuildToolArgs", add_help=False, allow_abbrev=False)
    p.add_argument("-c", "--channel", action="append", default=[])
    p.add_argument("--test", choices=["skip", "native"])
    p.add_argument("--no-test", action="store_true")
    p.add_argument("--keep-build", action="store_true")
    p.add_argument("--package-format")
    p.add_argument("--no-include-recipe", action="store_true")
    p.add_argument("--no-build-id", action="store_true")
    p.add_argument("--experimental", action="store_true")
    p.add_argument("--compression-threads", type=int)
    p.add_argument("--io-concurrency-limit", type=int)
    p.add_argument("--channel-priority", choices=["strict", "disabled"])
    p.add_argument("--noarch-build-platform")
    p.add_argument("--allow-insecure-host", action="append", default=[])
    p.add_argument("--error-prefix-in-binary", action="store_true")
    p.add_argument("--allow-symlinks-on-windows", action="store_true")
    return p


def supported_options() -> list[str]:
    """The rattler-build options `parse_tool_args` accepts, for messages and docs."""
    return [o for action in _parser()._actions for o in action.option_strings]


def parse_tool_args(text: str, *, fast_build: bool = False) -> ToolOptions:
    """Parse rattler-build command-line options (shell quoting, as the samples' `shlex.split`); `fast_build` is
    the samples' EnableFastBuild (`--package-format conda:min`). Raises `UsageError` naming the first option
    that cannot be honoured and what to do instead."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"ExtraBuildToolArgs {text!r}: {exc}; quote arguments as a POSIX shell does") from exc
    args, unknown = _parser().parse_known_args(words)
    for word in unknown:
        option = word.split("=", 1)[0]
        if option in _REFUSED:
            raise UsageError(f"ExtraBuildToolArgs {option}: {_REFUSED[option]}")
        if word.startswith("-"):
            raise UsageError(
                f"ExtraBuildToolArgs {option} is not a rattler-build option condafarm can pass to py-rattler-build; "
                f"it takes {' '.join(supported_options())}"
            )
        raise UsageError(f"ExtraBuildToolArgs {word!r} is not an option; give rattler-build options only")
    if args.package_format and not re.fullmatch(r"(conda|tar\.bz2)(:(min|max|\d+))?", args.package_format):
        raise UsageError(
            f"ExtraBuildToolArgs --package-format {args.package_format}: give conda or tar.bz2, optionally with "
            ":LEVEL (min, max or a number), e.g. conda:min"
        )
    if fast_build and args.package_format:
        raise UsageError("EnableFastBuild sets --package-format conda:min; drop one of them from the job")
    tool_config = {
        "compression_threads": args.compression_threads,
        "io_concurrency_limit": args.io_concurrency_limit,
        "channel_priority": args.channel_priority,
        "noarch_build_platform": args.noarch_build_platform,
        "allow_insecure_host": args.allow_insecure_host or None,
        "error_prefix_in_binary": args.error_prefix_in_binary or None,
        "allow_symlinks_on_windows": args.allow_symlinks_on_windows or None,
    }
    return ToolOptions(
        channels=tuple(args.channel),
        test=not args.no_test and args.test != "skip",
        keep_build=args.keep_build,
        package_format="conda:min" if fast_build else args.package_format,
        no_include_recipe=args.no_include_recipe,
        no_build_id=args.no_build_id,
        experimental=args.experimental,
        tool_config={k: v for k, v in tool_config.items() if v is not None},
    )
