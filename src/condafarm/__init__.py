"""condafarm: build, publish, index and serve conda channels on S3 or a folder, for render farms.

The public API is what this module exports; everything else may change. Each name is imported from its module
on first use, so that a command which needs only one subsystem never pays for loading the others (py-rattler,
py-rattler-build and boto3 take most of a second to import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .build import BuildFailed, BuildReport, ToolOptions, build_recipe, parse_tool_args
    from .channel.build_number import BuildNumber, next_build_number, reserve_build_number
    from .channel.check import CheckReport, check_channel
    from .channel.curate import Curated, copy_packages, remove, yank
    from .channel.index import IndexReport, SubdirReport, index_channel, init_channel
    from .channel.listing import Listed, list_packages
    from .channel.page import Page, write_page
    from .channel.prune import PruneReport, prune_channel
    from .channel.publish import Published, PublishReport, publish
    from .channel.servers import upload_to_server
    from .conda.package import Hashes, PackageMetadata, read_metadata
    from .env import (
        EnvSpec,
        create_environment,
        enter_environment,
        exit_environment,
        export_environment,
        make_spec,
        pack_environment,
    )
    from .errors import (
        AccessDenied,
        AlreadyExists,
        BuildError,
        ChannelProblems,
        CondafarmError,
        Conflict,
        NotFound,
        OfflineViolation,
        PackageError,
        SolveError,
        StorageError,
        UsageError,
    )
    from .farm.iam import iam_policy
    from .farm.platforms import check_native_platform
    from .farm.submit import plan_jobs, submit_jobs
    from .mirror import MirrorReport, MirrorSpec, mirror_channel
    from .storage import open_storage
    from .storage.location import Channel, S3Options, parse_channel

#: Where each public name lives, for `__getattr__`; the block above says the same for type checkers.
_EXPORTS = {
    ".build": ("BuildFailed", "BuildReport", "ToolOptions", "build_recipe", "parse_tool_args"),
    ".channel.build_number": ("BuildNumber", "next_build_number", "reserve_build_number"),
    ".channel.check": ("CheckReport", "check_channel"),
    ".channel.curate": ("Curated", "copy_packages", "remove", "yank"),
    ".channel.index": ("IndexReport", "SubdirReport", "index_channel", "init_channel"),
    ".channel.listing": ("Listed", "list_packages"),
    ".channel.page": ("Page", "write_page"),
    ".channel.prune": ("PruneReport", "prune_channel"),
    ".channel.publish": ("Published", "PublishReport", "publish"),
    ".channel.servers": ("upload_to_server",),
    ".conda.package": ("Hashes", "PackageMetadata", "read_metadata"),
    ".env": (
        "EnvSpec",
        "create_environment",
        "enter_environment",
        "exit_environment",
        "export_environment",
        "make_spec",
        "mirror_channel",
        "pack_environment",
    ),
    ".errors": (
        "AccessDenied",
        "AlreadyExists",
        "BuildError",
        "ChannelProblems",
        "CondafarmError",
        "Conflict",
        "NotFound",
        "OfflineViolation",
        "PackageError",
        "SolveError",
        "StorageError",
        "UsageError",
    ),
    ".farm.iam": ("iam_policy",),
    ".farm.platforms": ("check_native_platform",),
    ".farm.submit": ("plan_jobs", "submit_jobs"),
    ".mirror": ("MirrorReport", "MirrorSpec", "mirror_channel"),
    ".storage": ("open_storage",),
    ".storage.location": ("Channel", "S3Options", "parse_channel"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "BuildError",
    "BuildFailed",
    "BuildNumber",
    "BuildReport",
    "Channel",
    "ChannelProblems",
    "CheckReport",
    "CondafarmError",
    "Conflict",
    "Curated",
    "EnvSpec",
    "Hashes",
    "IndexReport",
    "Listed",
    "MirrorReport",
    "MirrorSpec",
    "NotFound",
    "OfflineViolation",
    "PackageError",
    "PackageMetadata",
    "Page",
    "PruneReport",
    "PublishReport",
    "Published",
    "S3Options",
    "SolveError",
    "StorageError",
    "SubdirReport",
    "ToolOptions",
    "UsageError",
    "build_recipe",
    "check_channel",
    "check_native_platform",
    "copy_packages",
    "create_environment",
    "enter_environment",
    "exit_environment",
    "export_environment",
    "iam_policy",
    "index_channel",
    "init_channel",
    "list_packages",
    "make_spec",
    "mirror_channel",
    "next_build_number",
    "open_storage",
    "pack_environment",
    "parse_channel",
    "parse_tool_args",
    "plan_jobs",
    "prune_channel",
    "publish",
    "read_metadata",
    "remove",
    "reserve_build_number",
    "submit_jobs",
    "upload_to_server",
    "write_page",
    "yank",
]


# Hidden from type checkers, which would otherwise accept any attribute of this module as `Any`.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        module = _MODULE_OF.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
