"""Render environments from conda channels with py-rattler: solve, install, cache and reuse on a host,
activate for OpenJD, lock, export, pack, install without Python, and ship as OCI images. No conda needed on the
host.

The public surface is what this module exports; the modules behind it may change.
"""

from __future__ import annotations

from .activation import activation_changes, openjd_lines
from .cache import Acquired, EnvCache, default_cache_root
from .channels import Sources, resolve_channels
from .create import Manifest, create_environment, read_manifest
from .export import Exported, export_environment
from .installer import pack_installer
from .lock_formats import read_lockfile
from .lockfile import LockedPackage, Origin, explicit_lockfile, pinned_yaml, read_explicit_lockfile
from .oci_image import Image, build_image
from .oci_push import Pushed, push_image
from .pack import Packed, pack_environment
from .session import Entered, enter_environment, exit_environment
from .spec import EnvSpec, make_spec

__all__ = [
    "Acquired",
    "Entered",
    "EnvCache",
    "EnvSpec",
    "Exported",
    "Image",
    "LockedPackage",
    "Manifest",
    "Origin",
    "Packed",
    "Pushed",
    "Sources",
    "activation_changes",
    "build_image",
    "create_environment",
    "default_cache_root",
    "enter_environment",
    "exit_environment",
    "explicit_lockfile",
    "export_environment",
    "make_spec",
    "openjd_lines",
    "pack_environment",
    "pack_installer",
    "pinned_yaml",
    "push_image",
    "read_explicit_lockfile",
    "read_lockfile",
    "read_manifest",
    "resolve_channels",
]
