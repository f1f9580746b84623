"""This user's condafarm cache folder, by each OS's convention: environments and store probes live under it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath


def user_cache_root(platform: str, environ: Mapping[str, str], home: str) -> PurePath:
    """%LOCALAPPDATA%\\condafarm\\cache on Windows, ~/Library/Caches/condafarm on macOS, and
    $XDG_CACHE_HOME/condafarm or ~/.cache/condafarm elsewhere, for a `platform` host (a `sys.platform` value)
    with these variables and home folder. Pure, so every OS's rule is tested on any host."""
    windows = platform == "win32"
    flavour: type[PurePath] = PureWindowsPath if windows else PurePosixPath
    if windows:
        return flavour(environ.get("LOCALAPPDATA") or flavour(home, "AppData", "Local"), "condafarm", "cache")
    if platform == "darwin":
        return flavour(home, "Library", "Caches", "condafarm")
    xdg = environ.get("XDG_CACHE_HOME", "")
    # the XDG spec says a relative value is invalid and must be ignored
    return flavour(xdg if flavour(xdg).is_absolute() else flavour(home, ".cache"), "condafarm")


def user_cache_dir() -> Path:
    """`user_cache_root` for this host."""
    return Path(user_cache_root(sys.platform, os.environ, str(Path.home())))
