"""condafarm: build, publish, index and serve conda channels on S3 or a folder, for render farms.

The public API is what this module exports (`_EXPORTS`, the one list of it; the block for type checkers below
says the same and a test holds the two equal); everything else may change. Front ends (the CLI, the worker
plugin) use nothing else. Each name is imported from its module on first use, so that a command which needs only
one subsystem never pays for loading the others (py-rattler, py-rattler-build and boto3 take most of a second to
import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__ as __version__

#: Where each public name lives.
_EXPORTS: dict[str, tuple[str, ...]] = {
    ".build": (
        "BuildFailed",
        "BuildReport",
        "ToolOptions",
        "build_recipe",
        "parse_tool_args",
    ),
    ".build.conda_build": (
        "Conversion",
        "convert_recipe",
    ),
    ".channel.build_number": (
        "BuildNumber",
        "next_build_number",
        "reserve_build_number",
    ),
    ".channel.curate": (
        "Curated",
        "PruneReport",
        "copy_packages",
        "prune_channel",
        "remove",
        "yank",
    ),
    ".channel.index": (
        "IndexReport",
        "SubdirReport",
        "index_channel",
        "init_channel",
    ),
    ".channel.page": (
        "Page",
        "write_page",
    ),
    ".channel.provenance": (
        "Described",
        "describe_packages",
    ),
    ".channel.publish": (
        "PublishReport",
        "Published",
        "publish",
    ),
    ".channel.read": (
        "CheckReport",
        "Listed",
        "check_channel",
        "list_packages",
    ),
    ".channel.servers": (
        "SERVER_FORMS",
        "upload_to_server",
    ),
    ".conda.package": (
        "Hashes",
        "PackageMetadata",
        "read_metadata",
    ),
    ".console": (
        "Throttle",
        "configure_logging",
        "exit_now",
        "numbers",
        "package_files",
        "parse_size",
        "redact",
        "report_build_failure",
        "report_check",
    ),
    ".defaults": (
        "DEFAULT_GRACE_HOURS",
        "DEFAULT_MIN_FREE_DISK",
    ),
    ".demo": ("run_demo",),
    ".env": (
        "EnvSpec",
        "JobRecords",
        "Request",
        "build_image",
        "create_environment",
        "default_cache_root",
        "enter_environment",
        "enter_for_job",
        "exit_environment",
        "export_environment",
        "make_spec",
        "openjd_lines",
        "pack_environment",
        "pack_installer",
        "parse_reference",
        "push_image",
        "read_request",
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
    ".farm.check": (
        "JobCheck",
        "check_job",
        "refuse_failures",
    ),
    ".farm.files": ("write_farm_files",),
    ".farm.iam": (
        "attach_command",
        "iam_policy",
        "policy_json",
    ),
    ".farm.platforms": ("check_native_platform",),
    ".farm.recipe_config": ("Recipe",),
    ".farm.submit": (
        "SubmitTarget",
        "plan_jobs",
        "submit_jobs",
        "submit_target",
    ),
    ".mirror": (
        "MirrorReport",
        "MirrorSpec",
        "Wanted",
        "mirror_channel",
        "split_specs",
    ),
    ".storage": ("open_storage",),
    ".storage.location": (
        "Channel",
        "Kind",
        "S3Options",
        "classify",
        "parse_channel",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)

if TYPE_CHECKING:  # the same names, for type checkers (`X as X` re-exports them)
    from . import numbers as numbers  # the module front ends parse numbers with (console re-exports it)
    from .build import BuildFailed as BuildFailed
    from .build import BuildReport as BuildReport
    from .build import ToolOptions as ToolOptions
    from .build import build_recipe as build_recipe
    from .build import parse_tool_args as parse_tool_args
    from .build.conda_build import Conversion as Conversion
    from .build.conda_build import convert_recipe as convert_recipe
    from .channel.build_number import BuildNumber as BuildNumber
    from .channel.build_number import next_build_number as next_build_number
    from .channel.build_number import reserve_build_number as reserve_build_number
    from .channel.curate import Curated as Curated
    from .channel.curate import PruneReport as PruneReport
    from .channel.curate import copy_packages as copy_packages
    from .channel.curate import prune_channel as prune_channel
    from .channel.curate import remove as remove
    from .channel.curate import yank as yank
    from .channel.index import IndexReport as IndexReport
    from .channel.index import SubdirReport as SubdirReport
    from .channel.index import index_channel as index_channel
    from .channel.index import init_channel as init_channel
    from .channel.page import Page as Page
    from .channel.page import write_page as write_page
    from .channel.provenance import Described as Described
    from .channel.provenance import describe_packages as describe_packages
    from .channel.publish import Published as Published
    from .channel.publish import PublishReport as PublishReport
    from .channel.publish import publish as publish
    from .channel.read import CheckReport as CheckReport
    from .channel.read import Listed as Listed
    from .channel.read import check_channel as check_channel
    from .channel.read import list_packages as list_packages
    from .channel.servers import SERVER_FORMS as SERVER_FORMS
    from .channel.servers import upload_to_server as upload_to_server
    from .conda.package import Hashes as Hashes
    from .conda.package import PackageMetadata as PackageMetadata
    from .conda.package import read_metadata as read_metadata
    from .console import Throttle as Throttle
    from .console import configure_logging as configure_logging
    from .console import exit_now as exit_now
    from .console import package_files as package_files
    from .console import parse_size as parse_size
    from .console import redact as redact
    from .console import report_build_failure as report_build_failure
    from .console import report_check as report_check
    from .defaults import DEFAULT_GRACE_HOURS as DEFAULT_GRACE_HOURS
    from .defaults import DEFAULT_MIN_FREE_DISK as DEFAULT_MIN_FREE_DISK
    from .demo import run_demo as run_demo
    from .env import EnvSpec as EnvSpec
    from .env import JobRecords as JobRecords
    from .env import Request as Request
    from .env import build_image as build_image
    from .env import create_environment as create_environment
    from .env import default_cache_root as default_cache_root
    from .env import enter_environment as enter_environment
    from .env import enter_for_job as enter_for_job
    from .env import exit_environment as exit_environment
    from .env import export_environment as export_environment
    from .env import make_spec as make_spec
    from .env import openjd_lines as openjd_lines
    from .env import pack_environment as pack_environment
    from .env import pack_installer as pack_installer
    from .env import parse_reference as parse_reference
    from .env import push_image as push_image
    from .env import read_request as read_request
    from .errors import AccessDenied as AccessDenied
    from .errors import AlreadyExists as AlreadyExists
    from .errors import BuildError as BuildError
    from .errors import ChannelProblems as ChannelProblems
    from .errors import CondafarmError as CondafarmError
    from .errors import Conflict as Conflict
    from .errors import NotFound as NotFound
    from .errors import OfflineViolation as OfflineViolation
    from .errors import PackageError as PackageError
    from .errors import SolveError as SolveError
    from .errors import StorageError as StorageError
    from .errors import UsageError as UsageError
    from .farm.check import JobCheck as JobCheck
    from .farm.check import check_job as check_job
    from .farm.check import refuse_failures as refuse_failures
    from .farm.files import write_farm_files as write_farm_files
    from .farm.iam import attach_command as attach_command
    from .farm.iam import iam_policy as iam_policy
    from .farm.iam import policy_json as policy_json
    from .farm.platforms import check_native_platform as check_native_platform
    from .farm.recipe_config import Recipe as Recipe
    from .farm.submit import SubmitTarget as SubmitTarget
    from .farm.submit import plan_jobs as plan_jobs
    from .farm.submit import submit_jobs as submit_jobs
    from .farm.submit import submit_target as submit_target
    from .mirror import MirrorReport as MirrorReport
    from .mirror import MirrorSpec as MirrorSpec
    from .mirror import Wanted as Wanted
    from .mirror import mirror_channel as mirror_channel
    from .mirror import split_specs as split_specs
    from .storage import open_storage as open_storage
    from .storage.location import Channel as Channel
    from .storage.location import Kind as Kind
    from .storage.location import S3Options as S3Options
    from .storage.location import classify as classify
    from .storage.location import parse_channel as parse_channel


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
