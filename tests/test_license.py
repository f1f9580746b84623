"""Deprecated SPDX license ids (`GPL-3.0`), which conda-build took and rattler-build refuses, build as their
successors with a warning, in recipe.yaml and in converted meta.yaml recipes."""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from support.cli import run_cli

from condafarm.build.license import current_license
from condafarm.build.recipe import find_recipe, load_recipe, render

PLATFORMS = ("linux-64", "win-64", "osx-arm64")


@pytest.mark.parametrize(
    ("given", "wanted"),
    [
        ("GPL-3.0", "GPL-3.0-only"),
        ("LGPL-2.1+", "LGPL-2.1-or-later"),
        ("MIT OR (GPL-2.0 AND AGPL-3.0)", "MIT OR (GPL-2.0-only AND AGPL-3.0-only)"),
        ("wxWindows", "GPL-2.0-or-later WITH WxWindows-exception-3.1"),
        ("MIT OR eCos-2.0", "MIT OR (GPL-2.0-or-later WITH eCos-exception-2.0)"),
        ("GPL-3.0-only", "GPL-3.0-only"),
        ("LicenseRef-Studio", "LicenseRef-Studio"),
    ],
)
def test_deprecated_spdx_ids_become_their_successors(given: str, wanted: str) -> None:
    assert current_license(given) == wanted


def _index_license(package: Path) -> str:
    """about's license as written into the .conda's info/index.json."""
    with zipfile.ZipFile(package) as conda:
        info = next(n for n in conda.namelist() if n.startswith("info-"))
        with conda.open(info) as raw:
            import zstandard

            with tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(raw), mode="r|") as tar:
                for member in tar:
                    if member.name == "info/index.json":
                        return str(json.load(tar.extractfile(member))["license"])  # type: ignore[arg-type]
    raise AssertionError("no info/index.json")


def test_a_recipe_with_a_deprecated_license_id_renders_everywhere_and_builds_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "blender-like"
    folder.mkdir()
    (folder / "recipe.yaml").write_text(
        "context:\n  version: '4.4.3'\npackage:\n  name: farm-gpl\n  version: ${{ version }}\n"
        "build:\n  noarch: generic\n  script:\n    - if: unix\n      then: echo built\n      else: echo built\n"
        "about:\n  license: GPL-3.0\n  summary: a GPL-3.0 application\n"
    )
    recipe = find_recipe(folder)  # a copy with the license's successor, in the temp folder
    assert recipe != folder / "recipe.yaml"
    for platform in PLATFORMS:
        (variant,) = render(load_recipe(recipe), recipe, [], platform)
        assert variant.recipe.to_dict()["about"]["license"] == "GPL-3.0-only", platform
    out = tmp_path / "out"
    temp = {"TMPDIR": str(tmp_path), "TEMP": str(tmp_path), "TMP": str(tmp_path)}
    result = run_cli(
        "build",
        str(folder),
        "--no-publish",
        "--output-dir",
        str(out),
        "--target-platform",
        "linux-64",
        env={**os.environ, **temp},
    )
    assert result.returncode == 0, result.stderr
    assert "license 'GPL-3.0' uses deprecated SPDX ids" in result.stderr and "'GPL-3.0-only'" in result.stderr
    (package,) = out.rglob("*.conda")
    assert _index_license(package) == "GPL-3.0-only"
    assert "license: GPL-3.0\n" in (folder / "recipe.yaml").read_text()  # the user's recipe is untouched
    assert sorted(p.name for p in folder.iterdir()) == ["recipe.yaml"]


def test_a_converted_meta_yaml_with_a_deprecated_license_id_says_so_and_renders(tmp_path: Path) -> None:
    folder = tmp_path / "recipe"
    folder.mkdir()
    (folder / "meta.yaml").write_text("package:\n  name: a\n  version: '1'\nabout:\n  license: GPL-2.0+\n")
    result = run_cli("convert-recipe", str(folder), "--out", str(tmp_path / "converted"))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "converted" / "recipe.yaml").read_text()
    assert "license: GPL-2.0-or-later" in text and "uses deprecated SPDX ids" in text
    recipe = tmp_path / "converted" / "recipe.yaml"
    for platform in PLATFORMS:
        assert render(load_recipe(recipe), recipe, [], platform)[0].recipe.to_dict()["about"]["license"] == (
            "GPL-2.0-or-later"
        )
