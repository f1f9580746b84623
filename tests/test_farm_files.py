"""The farm files (job bundles, queue environments, host setup scripts) travel in the wheel: `condafarm submit` and
`condafarm farm-files write` work from an installed wheel with no checkout, and write exactly the checkout's files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support import ROOT
from support.cli import run_cli

from condafarm.farm.files import FOLDERS

#: What a wheel is built from (the rest of the checkout is not needed).
SOURCES = [
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "src",
    "worker_plugin",
    "job_bundles",
    "queue_environments",
]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def _checkout_files() -> dict[str, bytes]:
    return {f"{name}/{path}": data for name, source in FOLDERS.items() for path, data in _files(ROOT / source).items()}


def test_farm_files_write_copies_the_checkout_folders_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "farm"
    first = run_cli("farm-files", "write", str(out))
    assert first.returncode == 0, first.stderr
    assert _files(out) == _checkout_files()
    assert "build_linux/template.yaml" in "".join(_files(out))
    again = run_cli("farm-files", "write", str(out))
    assert again.returncode == 5 and "--force" in again.stderr
    (out / "job_bundles" / "build_linux" / "template.yaml").write_text("changed")
    forced = run_cli("farm-files", "write", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert _files(out) == _checkout_files()


@pytest.mark.parametrize("where", ["the destination", "a folder of it", "inside a folder, with --force"])
def test_a_file_in_the_way_is_a_usage_error_and_stays(where: str, tmp_path: Path) -> None:
    out = tmp_path / "farm"
    extra = []
    if where == "the destination":
        blocker = out
    elif where == "a folder of it":
        out.mkdir()
        blocker = out / "queue_environments"
    else:
        assert run_cli("farm-files", "write", str(out)).returncode == 0
        shutil.rmtree(out / "job_bundles" / "build_linux")
        blocker, extra = out / "job_bundles" / "build_linux", ["--force"]
    blocker.write_text("mine")
    result = run_cli("farm-files", "write", str(out), *extra)
    assert result.returncode == 2, result.stderr
    assert str(blocker) in result.stderr and "internal error" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and blocker.read_text() == "mine"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """condafarm's wheel, built from a copy of the checkout's sources (no build isolation: no index needed)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name)
    args = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(work)]
    built = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = work.glob("condafarm-*.whl")
    return path


@pytest.mark.slow
def test_the_wheel_carries_every_farm_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zipped:
        packaged = {
            n.removeprefix("condafarm/farm/files/"): zipped.read(n)
            for n in zipped.namelist()
            if n.startswith("condafarm/farm/files/") and not n.endswith("/")
        }
    assert packaged == _checkout_files()


@pytest.mark.slow
def test_submit_and_farm_files_work_from_the_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    """The wheel unpacked where no checkout is around it (its dependencies from this environment)."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zipped:
        zipped.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("CONDAFARM_JOB_BUNDLES", None)
    recipe = tmp_path / "tool" / "recipe"
    recipe.mkdir(parents=True)
    (recipe / "recipe.yaml").write_text("package: {name: tool, version: '1.0'}\nbuild: {noarch: generic}\n")

    def condafarm(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "condafarm", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, check=False)

    planned = condafarm("submit", str(recipe.parent), "--dry-run", "--to", "s3://studio-packages/Conda/Default")
    assert planned.returncode == 0, planned.stderr
    assert f"bundle: {site / 'condafarm' / 'farm' / 'files' / 'job_bundles' / 'build_linux'}" in planned.stdout
    written = condafarm("farm-files", "write", str(tmp_path / "farm"))
    assert written.returncode == 0, written.stderr
    assert _files(tmp_path / "farm") == _checkout_files()
