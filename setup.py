"""Build step: put the top-level farm folders (job bundles, queue environments, host setup scripts) into the wheel.

They are edited in one place, the checkout's top-level folders that the docs name; this copies them to
condafarm/farm/files/ in the built package, where `condafarm.farm.files` finds them after `pip install condafarm`.
Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))  # the table of farm folders lives with the code that reads them
from condafarm.farm.files import FOLDERS  # noqa: E402


class BuildWithFarmFiles(build_py):
    """`build_py` that also copies the farm folders into the built package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "condafarm" / "farm" / "files"
        for name, source in FOLDERS.items():
            shutil.copytree(
                ROOT / source, target / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
            )


setup(cmdclass={"build_py": BuildWithFarmFiles})
