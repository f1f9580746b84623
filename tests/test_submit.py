"""`condafarm submit`: one build job per platform from a recipe and its deadline-cloud.yaml, shown by --dry-run
without any AWS call, and bundles that openjd-model accepts with the printed parameters."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from openjd.model import ParameterValue, ParameterValueType, create_job, decode_job_template
from support.cli import run_cli

RECIPE = """\
package:
  name: tool
  version: "1.0"
build:
  noarch: generic
"""

CONFIG = """\
condaPlatforms:
  - platform: linux-64
    defaultSubmit: true
    sourceArchiveFilename: tool-1.0-linux.tar.gz
    sourceDownloadInstructions: 'Copy it from //fileserver/vendor/tool'
  - platform: linux-aarch64
    defaultSubmit: false
  - platform: win-64
    variant: cuda
    defaultSubmit: true
    additionalHostRequirements:
      amounts:
      - name: amount.worker.gpu
        min: 1
    variantConfig:
      cuda_compiler_version: ["12.1"]
jobParameters:
- name: ExtraChannels
  value: conda-forge
"""


def _recipes(tmp_path: Path, config: str | None = CONFIG, archive: bool = True) -> Path:
    """The deadline-cloud-samples layout: recipes/tool/{deadline-cloud.yaml,recipe/recipe.yaml}, archives beside."""
    tool = tmp_path / "recipes" / "tool"
    (tool / "recipe").mkdir(parents=True)
    (tool / "recipe" / "recipe.yaml").write_text(RECIPE)
    if config is not None:
        (tool / "deadline-cloud.yaml").write_text(config)
    if archive:
        (tmp_path / "recipes" / "archive_files").mkdir()
        (tmp_path / "recipes" / "archive_files" / "tool-1.0-linux.tar.gz").write_bytes(b"archive")
    return tool


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """Any AWS call (Deadline or S3) would hit a closed port and fail; no Deadline CLI config exists."""
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "HOME": str(tmp_path), "USERPROFILE": str(tmp_path)}
    env["DEADLINE_CONFIG_FILE_PATH"] = str(tmp_path / "no-deadline-config")
    return env


def _jobs(stdout: str) -> list[dict[str, object]]:
    """Parse the dry run's output into one dict per job."""
    jobs: list[dict[str, object]] = []
    for line in stdout.splitlines():
        if match := re.match(r"job \d+ of \d+: (\S+)$", line):
            jobs.append({"platform": match[1], "params": {}, "files": []})
        elif line.startswith("  bundle: "):
            jobs[-1]["bundle"] = Path(line.split(": ", 1)[1]).name
        elif line.startswith("  host requirements: "):
            jobs[-1]["hosts"] = line.split(": ", 1)[1].split()
        elif line.startswith("  -p "):
            name, value = line[5:].split("=", 1)
            jobs[-1]["params"][name] = value  # type: ignore[index]
        elif line.startswith("  + "):
            jobs[-1]["files"].append(line[4:].split()[0])  # type: ignore[attr-defined]
    return jobs


def test_dry_run_plans_the_default_platforms_of_deadline_cloud_yaml_with_no_aws_call(tmp_path: Path) -> None:
    tool = _recipes(tmp_path)
    result = run_cli("submit", str(tool), "--dry-run", env=_offline_env(tmp_path))
    assert result.returncode == 0, result.stderr
    jobs = _jobs(result.stdout)
    assert [j["platform"] for j in jobs] == ["linux-64", "win-64-cuda"]  # linux-aarch64 is not defaultSubmit
    linux, windows = jobs
    assert linux["bundle"] == "build_linux" and windows["bundle"] == "build_windows"
    assert linux["hosts"] == ["attr.worker.os.family=linux", "attr.worker.cpu.arch=x86_64"]
    assert windows["hosts"] == ["attr.worker.os.family=windows", "attr.worker.cpu.arch=x86_64", "amount.worker.gpu>=1"]
    assert linux["params"] == {
        "RecipeName": "tool",
        "RecipeDir": str(tool / "recipe"),
        "DestinationChannel": "s3://<job attachments bucket of the queue>/Conda/Default",
        "TargetPlatform": "linux-64",
        "ExtraChannels": "conda-forge",
        "OverrideSourceArchive": str(tmp_path / "recipes" / "archive_files" / "tool-1.0-linux.tar.gz"),
    }
    assert windows["params"]["VariantConfig"] == "variant_config.yaml"  # type: ignore[index]
    assert windows["files"] == ["variant_config.yaml"]
    assert "OverrideSourceArchive" not in windows["params"]  # type: ignore[operator]
    assert result.stdout.rstrip().endswith("dry run: 2 job(s) not submitted")


def test_os_choice_covers_every_platform_of_that_os_on_its_own_architecture(tmp_path: Path) -> None:
    tool = _recipes(tmp_path)
    result = run_cli(
        "submit", str(tool), "--os", "linux", "--to", "s3://studio/Conda/Dev", "--build-number", "+2", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    jobs = _jobs(result.stdout)
    assert [(j["platform"], j["hosts"]) for j in jobs] == [
        ("linux-64", ["attr.worker.os.family=linux", "attr.worker.cpu.arch=x86_64"]),
        ("linux-aarch64", ["attr.worker.os.family=linux", "attr.worker.cpu.arch=arm64"]),
    ]
    assert all(j["params"]["DestinationChannel"] == "s3://studio/Conda/Dev" for j in jobs)  # type: ignore[index]
    assert all(j["params"]["BuildNumber"] == "+2" for j in jobs)  # type: ignore[index]


def test_recipe_without_deadline_cloud_yaml_builds_each_requested_os_default_platform(tmp_path: Path) -> None:
    tool = _recipes(tmp_path, config=None, archive=False)
    result = run_cli(
        "submit", str(tool / "recipe"), "--os", "linux,windows", "--os", "macos", "--to", "/ch", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    jobs = _jobs(result.stdout)
    assert [j["platform"] for j in jobs] == ["linux-64", "win-64", "osx-arm64"]
    assert jobs[2]["hosts"] == ["attr.worker.os.family=macos", "attr.worker.cpu.arch=arm64"]
    assert {j["params"]["RecipeName"] for j in jobs} == {"tool"}  # type: ignore[index]


def test_missing_source_archive_says_how_to_get_it(tmp_path: Path) -> None:
    tool = _recipes(tmp_path, archive=False)
    result = run_cli("submit", str(tool), "--dry-run", "--to", "/ch")
    assert result.returncode == 2
    assert "tool-1.0-linux.tar.gz" in result.stderr and "Copy it from //fileserver/vendor/tool" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--os", "beos"], "unknown OS 'beos'"),
        (["--platform", "osx-arm64"], "does not build 'osx-arm64'"),
        (["--os", "macos"], "builds no platform for macos"),
    ],
)
def test_bad_choices_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("submit", str(_recipes(tmp_path)), "--dry-run", "--to", "/ch", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_conda_build_recipe_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "meta.yaml").write_text("package: {name: old}\n")
    result = run_cli("submit", str(tmp_path), "--dry-run")
    assert result.returncode == 2 and "conda-build meta.yaml" in result.stderr


def test_saved_bundles_create_jobs_with_the_printed_parameters(tmp_path: Path) -> None:
    tool = _recipes(tmp_path)
    out = tmp_path / "bundles"
    result = run_cli("submit", str(tool), "--to", "s3://studio/Conda/Default", "--dry-run", "--save-bundles", str(out))
    assert result.returncode == 0, result.stderr
    jobs = _jobs(result.stdout)
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert [f.name for f in folders] == ["01-linux-64", "02-win-64-cuda"]
    for job, folder in zip(jobs, folders, strict=True):
        template = decode_job_template(template=yaml.safe_load((folder / "template.yaml").read_text()))
        params: dict[str, str] = dict(job["params"])  # type: ignore[call-overload]
        if "VariantConfig" in params:
            variants = yaml.safe_load((folder / params["VariantConfig"]).read_text())
            assert variants == {"cuda_compiler_version": ["12.1"]}
        types = {p.name: p.type.value for p in template.parameterDefinitions}
        created = create_job(
            job_template=template,
            job_parameter_values={
                k: ParameterValue(type=ParameterValueType(types[k]), value=v) for k, v in params.items()
            },
        )
        (step,) = created.steps
        hosts = {a.name: a.anyOf for a in step.hostRequirements.attributes}
        assert (
            hosts["attr.worker.cpu.arch"] == ["x86_64"]
            and created.name == f"condafarm build tool ({params['TargetPlatform']})"
        )
        assert (folder / "parameter_values.yaml").is_file()
