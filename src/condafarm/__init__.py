"""condafarm: build, publish, index and serve conda channels on S3 or a folder, for render farms.

The public API is what this module exports; everything else may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .build import BuildFailed, BuildReport, build_recipe
from .channel.build_number import BuildNumber, next_build_number, reserve_build_number
from .channel.check import CheckReport, check_channel
from .channel.curate import Curated, copy_packages, remove, yank
from .channel.index import IndexReport, SubdirReport, index_channel, init_channel
from .channel.listing import Listed, list_packages
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
    PackageError,
    SolveError,
    StorageError,
    UsageError,
)
from .farm.iam import iam_policy
from .farm.submit import plan_jobs, submit_jobs
from .storage import open_storage
from .storage.location import Channel, S3Options, parse_channel

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
    "NotFound",
    "PackageError",
    "PackageMetadata",
    "PublishReport",
    "Published",
    "S3Options",
    "SolveError",
    "StorageError",
    "SubdirReport",
    "UsageError",
    "build_recipe",
    "check_channel",
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
    "next_build_number",
    "open_storage",
    "pack_environment",
    "parse_channel",
    "plan_jobs",
    "publish",
    "read_metadata",
    "remove",
    "reserve_build_number",
    "submit_jobs",
    "upload_to_server",
    "yank",
]
