"""Render environments from conda channels with py-rattler: solve, install, cache and reuse on a host,
activate for OpenJD, lock, export, pack, install without Python, and ship as OCI images. No conda needed on the
host.

The public surface is what this module exports; the modules behind it may change.
"""

from __future__ import annotations

from .channels import Sources, resolve_channels
from .install import (
    Acquired,
    EnvCache,
    Manifest,
    activation_changes,
    create_environment,
    default_cache_root,
    openjd_lines,
    read_manifest,
)
from .job import Entered, JobRecords, enter_environment, enter_for_job, exit_environment
from .outputs import (
    Exported,
    Image,
    Packed,
    Pushed,
    build_image,
    export_environment,
    pack_environment,
    pack_installer,
    parse_reference,
    push_image,
)
from .request import (
    EnvSpec,
    LockedPackage,
    Origin,
    Request,
    explicit_lockfile,
    make_spec,
    pinned_yaml,
    read_explicit_lockfile,
    read_lockfile,
    read_request,
)

__all__ = [
    "Acquired",
    "Entered",
    "EnvCache",
    "EnvSpec",
    "Exported",
    "Image",
    "JobRecords",
    "LockedPackage",
    "Manifest",
    "Origin",
    "Packed",
    "Pushed",
    "Request",
    "Sources",
    "activation_changes",
    "build_image",
    "create_environment",
    "default_cache_root",
    "enter_environment",
    "enter_for_job",
    "exit_environment",
    "explicit_lockfile",
    "export_environment",
    "make_spec",
    "openjd_lines",
    "pack_environment",
    "pack_installer",
    "parse_reference",
    "pinned_yaml",
    "push_image",
    "read_explicit_lockfile",
    "read_lockfile",
    "read_manifest",
    "read_request",
    "resolve_channels",
]
