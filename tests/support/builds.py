"""What the build tests share: the example recipes, a conda-build recipe (meta.yaml with Jinja and selectors) and
its source archive, and reading what a build left in a folder channel or an environment."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

from support import ROOT

RECIPES = ROOT / "examples" / "recipes"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a channel folder with its content, to prove a failed build changed nothing."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def repodata(channel: Path) -> dict[str, dict[str, object]]:
    """The `.conda` records of a folder channel's noarch/repodata.json."""
    return dict(json.loads((channel / "noarch" / "repodata.json").read_bytes())["packages.conda"])


def run_installed(prefix: Path, command: str) -> str:
    """Run a command a package installed into `prefix`; its output."""
    exe = prefix / "Scripts" / f"{command}.bat" if os.name == "nt" else prefix / "bin" / command
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.strip()


def make_archive(path: Path, greeting: str) -> str:
    """A farm-data style source archive holding `greeting`; returns its sha256."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("farm-data-1.0/greeting.txt")
        info.size = len(greeting.encode())
        tar.addfile(info, io.BytesIO(greeting.encode()))
    path.write_bytes(gzip.compress(raw.getvalue()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


META = """\
{% set name = "farm-meta" %}
{% set version = "1.2" %}
{% set greeting = environ.get("FARM_META_GREETING", "hello") %}

package:
  name: {{ name }}
  version: {{ version }}

source:
  path: {{ name }}-{{ version }}.tar.gz
  sha256: SHA256
  folder: data

build:
  number: 0
  noarch: generic
  script_env:
    - FARM_META_GREETING={{ greeting }}
    - FARM_META_PLATFORM=linux  # [linux]
    - FARM_META_PLATFORM=windows  # [win]
    - FARM_META_PLATFORM=macos  # [osx]

test:
  commands:
    - farm-meta
    - farm-meta | grep "on linux"  # [linux]

about:
  home: https://example.com/farm-meta
  license: Apache-2.0
  summary: farm-meta for Linux  # [linux]
  summary: farm-meta for Windows  # [win]
"""

BUILD_SH = """\
mkdir -p "$PREFIX/bin" "$PREFIX/share/farm-meta"
cp "$SRC_DIR/data/greeting.txt" "$PREFIX/share/farm-meta/greeting.txt"
cat > "$PREFIX/bin/farm-meta" <<EOF
#!/bin/sh
data="\\$(dirname "\\$0")/../share/farm-meta/greeting.txt"
echo "$FARM_META_GREETING from $PKG_NAME $PKG_VERSION on $FARM_META_PLATFORM: \\$(cat "\\$data")"
EOF
chmod 755 "$PREFIX/bin/farm-meta"
"""

BLD_BAT = """\
mkdir "%PREFIX%\\Scripts" "%PREFIX%\\share\\farm-meta"
copy "%SRC_DIR%\\data\\greeting.txt" "%PREFIX%\\share\\farm-meta\\greeting.txt"
set SAYS=%FARM_META_GREETING% from %PKG_NAME% %PKG_VERSION% on %FARM_META_PLATFORM%
> "%PREFIX%\\Scripts\\farm-meta.bat" echo @echo %SAYS%
"""


def write_meta_recipe(folder: Path) -> Path:
    """The conda-build recipe in `folder` (made): meta.yaml, build.sh, bld.bat and its source archive."""
    folder.mkdir(parents=True, exist_ok=True)
    # one top folder holding greeting.txt, which rattler-build strips as conda-build does
    sha = make_archive(folder / "farm-meta-1.2.tar.gz", "greetings from the archive")
    (folder / "meta.yaml").write_text(META.replace("SHA256", sha))
    (folder / "build.sh").write_text(BUILD_SH)
    (folder / "bld.bat").write_text(BLD_BAT)
    return folder
