"""What an environment ships as: exports, packs, installers without Python, OCI layouts and images."""

from __future__ import annotations

from .export import Exported, export_environment
from .installer import pack_installer
from .oci_image import Image, build_image
from .oci_push import Pushed, parse_reference, push_image
from .pack import Packed, pack_environment

__all__ = [
    "Exported",
    "Image",
    "Packed",
    "Pushed",
    "build_image",
    "export_environment",
    "pack_environment",
    "pack_installer",
    "parse_reference",
    "push_image",
]
