"""`condafarm submit`: one build job per platform from a recipe and its deadline-cloud.yaml, shown by --dry-run
without any AWS call, and bundles that openjd-model accepts with the printed parameters; the samples' channel
names, queue choice by name prefix, and every deadline-cloud.yaml key honoured or refused."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openjd.model import ParameterValue, ParameterValueType, create_job, decode_job_template
from support.cli import run_cli
from support.deadline_api import FARM_ID, Queue, deadline_api

from condafarm import SubmitTarget, submit_target
from condafarm.errors import UsageError
from condafarm.farm.submit import QUEUE_BUCKET_PLACEHOLDER, choose_queue

RECIPE = """\
package:
  name: tool
  version: "1.0"
source:
  - if: linux and x86_64
    then:
      url: https://example.invalid/tool-1.0-linux.tar.gz
      sha256: 1111111111111111111111111111111111111111111111111111111111111111
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
- name: CondaChannels
  value: conda-forge
"""
CHANNEL = "s3://studio-packages/Conda/Default"


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
        "DestinationChannel": f"s3://{QUEUE_BUCKET_PLACEHOLDER}/Conda/Default",
        "CondaChannels": "conda-forge",
        "CondaPlatform": "linux-64",
        "CpuArch": "x86_64",
        "BuildTool": "rattler-build",
        "OverrideSourceArchive1": str(tmp_path / "recipes" / "archive_files" / "tool-1.0-linux.tar.gz"),
    }
    assert windows["params"]["VariantConfigFile"] == "variant_config.yaml"  # type: ignore[index]
    assert windows["files"] == ["variant_config.yaml"]
    assert "OverrideSourceArchive1" not in windows["params"]  # type: ignore[operator]
    assert "queue: the queue named 'Package'" in result.stdout
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
        "submit", str(tool / "recipe"), "--os", "linux,windows", "--os", "macos", "--to", CHANNEL, "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    jobs = _jobs(result.stdout)
    assert [j["platform"] for j in jobs] == ["linux-64", "win-64", "osx-arm64"]
    assert jobs[2]["hosts"] == ["attr.worker.os.family=macos", "attr.worker.cpu.arch=arm64"]
    assert {j["params"]["RecipeName"] for j in jobs} == {"tool"}  # type: ignore[index]


def test_missing_source_archive_says_how_to_get_it(tmp_path: Path) -> None:
    tool = _recipes(tmp_path, archive=False)
    result = run_cli("submit", str(tool), "--dry-run", "--to", CHANNEL)
    assert result.returncode == 2
    assert "tool-1.0-linux.tar.gz" in result.stderr and "Copy it from //fileserver/vendor/tool" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--os", "beos"], "unknown OS 'beos'"),
        (["--platform", "osx-arm64"], "does not build 'osx-arm64'"),
        (["--platform", "win-*-cpu"], "does not build 'win-*-cpu'"),
        (["--os", "macos"], "builds no platform for macos"),
    ],
)
def test_bad_choices_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("submit", str(_recipes(tmp_path)), "--dry-run", "--to", CHANNEL, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_platform_globs_and_all_platforms_choose_as_the_samples_do(tmp_path: Path) -> None:
    tool = _recipes(tmp_path)
    globbed = run_cli("submit", str(tool), "--dry-run", "--to", CHANNEL, "-p", "linux-*", "-p", "win-64*")
    every = run_cli("submit", str(tool), "--dry-run", "--to", CHANNEL, "--all-platforms")
    expected = ["linux-64", "linux-aarch64", "win-64-cuda"]
    assert [j["platform"] for j in _jobs(globbed.stdout)] == expected, globbed.stderr
    assert [j["platform"] for j in _jobs(every.stdout)] == expected, every.stderr


def test_meta_yaml_recipe_is_planned_with_the_conda_build_tool(tmp_path: Path) -> None:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "meta.yaml").write_text("package: {name: old, version: '1'}\n")
    result = run_cli("submit", str(tmp_path), "--dry-run")
    assert result.returncode == 0, result.stderr
    (job,) = _jobs(result.stdout)
    assert job["params"]["BuildTool"] == "conda-build"  # type: ignore[index]


@pytest.mark.parametrize(
    ("to", "bucket", "channel"),
    [
        (None, None, f"s3://{QUEUE_BUCKET_PLACEHOLDER}/Conda/Default"),
        ("AnotherChannel", None, f"s3://{QUEUE_BUCKET_PLACEHOLDER}/Conda/AnotherChannel"),
        ("AnotherChannel", "studio-packages", "s3://studio-packages/Conda/AnotherChannel"),
        ("s3://other-bucket/channel/prefix", None, "s3://other-bucket/channel/prefix"),
    ],
)
def test_channel_name_becomes_a_prefix_of_the_queue_bucket_as_the_samples_s3_channel(
    tmp_path: Path, to: str | None, bucket: str | None, channel: str
) -> None:
    args = [*(["--s3-channel", to] if to else []), *(["--bucket", bucket] if bucket else [])]
    result = run_cli("submit", str(_recipes(tmp_path)), "--dry-run", *args, env=_offline_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert {j["params"]["DestinationChannel"] for j in _jobs(result.stdout)} == {channel}  # type: ignore[index]


@pytest.mark.parametrize("to", ["/srv/channel", "./channel", "file:///srv/channel", "C:\\channels\\dev", "~/ch"])
def test_a_worker_local_folder_as_the_destination_is_refused(tmp_path: Path, to: str) -> None:
    result = run_cli("submit", str(_recipes(tmp_path)), "--dry-run", "--to", to)
    assert result.returncode == 2
    assert "a folder would vanish with the session" in result.stderr and "s3://BUCKET/PREFIX" in result.stderr


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("buildTool: cmake\n", "buildTool 'cmake' is not one of rattler-build, conda-build"),
        ("condaPlatforms: []\nsomething: 1\n", "unknown key 'something'; condafarm reads"),
        ("condaPlatforms:\n- platform: linux-64\n  defaultSubmit: true\n  sourceArchive: x\n", "'sourceArchive'"),
        (
            "condaPlatforms:\n- platform: linux-64\n  defaultSubmit: true\n  sourceArchiveFilename: [a, b, c]\n",
            "1 or 2",
        ),
        ("condaPlatforms:\n- platform: linux-64\n- platform: win-64\n", "no platform has defaultSubmit: true"),
        ("condaPlatforms:\n- {platform: linux-64, defaultSubmit: true}\n- {platform: linux-64}\n", "listed twice"),
        ("jobParameters:\n- {name: S3CondaChannel, value: /srv/c}\n", "'/srv/c' is not an s3://BUCKET/PREFIX"),
        ("jobParameters:\n- {name: CondaBuildConfigFile, value: nowhere.yaml}\n", "nowhere.yaml is not a file"),
        ("jobParameters:\n- {name: TargetPlatform, value: linux-64}\n", "renamed CondaPlatform"),
        ("jobParameters:\n- {name: NoSuchThing, value: x}\n", "NoSuchThing is not a parameter of build_linux"),
        ("jobParameters:\n- {name: OverridePrefixLength, value: 300}\n", "OverridePrefixLength 300: give a number"),
        ("condaPlatforms:\n- {platform: win-64, defaultSubmit: true, sourceArchiveDirectory: ../x}\n", "under"),
        (
            "jobParameters:\n- {name: ExtraBuildToolArgs, value: --target-platform linux-64}\n",
            "set the job's CondaPlatform",
        ),
    ],
)
def test_a_deadline_cloud_yaml_setting_condafarm_cannot_honour_is_refused_in_one_line(
    tmp_path: Path, config: str, message: str
) -> None:
    result = run_cli("submit", str(_recipes(tmp_path, config=config, archive=False)), "--dry-run", "--to", CHANNEL)
    assert result.returncode == 2, result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert message in line, line


def test_samples_job_parameters_and_build_options_reach_every_job(tmp_path: Path) -> None:
    config = (
        "buildTool: rattler-build\n"
        "condaPlatforms:\n- {platform: linux-64, defaultSubmit: true}\n"
        "- {platform: win-arm64, defaultSubmit: true, buildTool: conda-build}\n"
        "jobParameters:\n- {name: CondaChannels, value: conda-forge}\n- {name: OverridePackageName, value: tool2}\n"
    )
    tool = _recipes(tmp_path, config=config, archive=False)
    (tool / "recipe" / "meta.yaml").write_text("package: {name: tool, version: '1'}\n")
    args = ["-c", "studio", "--fast-build", "--extra-build-tool-args=--no-include-recipe"]
    result = run_cli("submit", str(tool), "--dry-run", "--to", CHANNEL, *args)
    assert result.returncode == 0, result.stderr
    linux, windows = _jobs(result.stdout)
    assert windows["hosts"] == ["attr.worker.os.family=windows", "attr.worker.cpu.arch=arm64"]
    for job, tool_name in ((linux, "rattler-build"), (windows, "conda-build")):
        params = job["params"]
        assert params["BuildTool"] == tool_name  # type: ignore[index]
        assert params["CondaChannels"] == "conda-forge studio"  # type: ignore[index]
        assert params["OverridePackageName"] == "tool2"  # type: ignore[index]
        assert params["EnableFastBuild"] == "true"  # type: ignore[index]
        assert params["ExtraBuildToolArgs"] == "--no-include-recipe"  # type: ignore[index]


def test_queue_is_chosen_by_name_prefix_and_never_guessed() -> None:
    queues = [
        {"displayName": "Production", "queueId": "queue-1"},
        {"displayName": "Package Build Queue", "queueId": "queue-2"},
        {"displayName": "Package Build Queue (old)", "queueId": "queue-3"},
        {"displayName": "Testing", "queueId": "queue-4"},
    ]
    assert choose_queue(queues, "Package Build Queue")["queueId"] == "queue-2"  # the exact name wins
    assert choose_queue(queues, "Test")["queueId"] == "queue-4"
    with pytest.raises(UsageError, match="several queues' names start with 'Package'"):
        choose_queue(queues, "Package")
    with pytest.raises(UsageError, match=r"no queue's name starts with 'Render'.*'Production'"):
        choose_queue(queues, "Render")


def test_the_installed_deadline_library_takes_what_submit_passes() -> None:
    from deadline.client.api import create_job_from_job_bundle, list_queues

    accepted = inspect.signature(create_job_from_job_bundle).parameters
    for name in ("job_parameters", "config", "print_function_callback", "interactive_confirmation_callback"):
        assert name in accepted, name
    assert "config" in inspect.signature(list_queues).parameters


def test_saved_bundles_create_jobs_with_the_printed_parameters(tmp_path: Path) -> None:
    tool = _recipes(tmp_path)
    out = tmp_path / "bundles"
    result = run_cli("submit", str(tool), "--to", CHANNEL, "--dry-run", "--save-bundles", str(out))
    assert result.returncode == 0, result.stderr
    jobs = _jobs(result.stdout)
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert [f.name for f in folders] == ["01-linux-64", "02-win-64-cuda"]
    for job, folder in zip(jobs, folders, strict=True):
        template = decode_job_template(template=yaml.safe_load((folder / "template.yaml").read_text()))
        params: dict[str, str] = dict(job["params"])  # type: ignore[call-overload]
        if "VariantConfigFile" in params:
            variants = yaml.safe_load((folder / params["VariantConfigFile"]).read_text())
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
        assert hosts["attr.worker.cpu.arch"] == [params["CpuArch"]] == ["x86_64"]
        assert created.name == f"condafarm build tool ({job['platform']})"
        assert (folder / "parameter_values.yaml").is_file()


def test_a_source_archive_directory_becomes_the_jobs_override_source_folder(tmp_path: Path) -> None:
    config = (
        "condaPlatforms:\n- platform: win-64\n  defaultSubmit: true\n  buildTool: rattler-build\n"
        "  sourceArchiveDirectory: tool-plugin-1.0/win-64/\n"
    )
    tool = _recipes(tmp_path, config=config, archive=False)
    (tool / "recipe" / "recipe.yaml").write_text(
        RECIPE.replace("linux and x86_64", "win").replace(
            "url: https://example.invalid/tool-1.0-linux.tar.gz", "path: ../../archive_files/tool-plugin-1.0/win-64"
        )
    )
    missing = run_cli("submit", str(tool), "--dry-run", "--to", CHANNEL)
    assert missing.returncode == 2 and "source folder tool-plugin-1.0/win-64/ for win-64" in missing.stderr
    plugin = tmp_path / "recipes" / "archive_files" / "tool-plugin-1.0" / "win-64"
    plugin.mkdir(parents=True)
    result = run_cli("submit", str(tool), "--dry-run", "--to", CHANNEL)
    assert result.returncode == 0, result.stderr
    (job,) = _jobs(result.stdout)
    assert job["params"]["OverrideSourceDir"] == str(plugin)  # type: ignore[index]


@pytest.mark.posix("plants symlinks")
@pytest.mark.parametrize("how", ["dot-dot", "absolute", "file-link", "folder-link"])
def test_a_source_archive_outside_the_recipes_folders_is_never_attached(tmp_path: Path, how: str) -> None:
    """A recipe's deadline-cloud.yaml (whoever wrote it) names what submit attaches to the job and uploads: a
    path or symlink leading out of the archive folders would upload a file of the submitter's, e.g. a key."""
    secret = tmp_path / "home" / ".aws" / "credentials"
    secret.parent.mkdir(parents=True)
    secret.write_text("[default]\naws_secret_access_key = abc\n")
    named = {"dot-dot": "../../home/.aws/credentials", "absolute": str(secret)}.get(how, "tool.tar.gz")
    key = "sourceArchiveDirectory" if how == "folder-link" else "sourceArchiveFilename"
    config = f"condaPlatforms:\n- platform: linux-64\n  defaultSubmit: true\n  {key}: {named}\n"
    tool = _recipes(tmp_path, config=config, archive=False)
    archives = tmp_path / "recipes" / "archive_files"
    archives.mkdir(exist_ok=True)
    if how.endswith("link"):
        (archives / named).symlink_to(secret if how == "file-link" else secret.parent)
    result = run_cli("submit", str(tool), "--dry-run", "--to", CHANNEL)
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(secret.parent) not in result.stdout


@pytest.mark.parametrize(
    "name", ["VariantConfigFile", "CondaBuildConfigFile", "OverrideSourceArchive1", "OverrideSourceDir", "RecipeDir"]
)
def test_a_job_parameter_naming_a_path_outside_the_recipe_is_never_attached(tmp_path: Path, name: str) -> None:
    """deadline-cloud.yaml's jobParameters may set the bundle's path parameters, which the job attaches (uploads):
    one naming a file of the submitter's (a key that parses as YAML) must not get it into the job."""
    secret = tmp_path / "home" / ".config" / "hosts.yml"
    secret.parent.mkdir(parents=True)
    secret.write_text("x: ['oauth-token-abc']\n")
    value = secret.parent if name in ("OverrideSourceDir", "RecipeDir") else secret
    config = "condaPlatforms:\n- {platform: linux-64, defaultSubmit: true}\njobParameters:\n"
    config += f"- {{name: {name}, value: {value}}}\n"
    tool = _recipes(tmp_path, config=config, archive=False)
    result = run_cli("submit", str(tool), "--dry-run", "--to", CHANNEL)
    assert result.returncode == 2 and "outside" in result.stderr, result.stdout + result.stderr
    assert str(secret.parent) not in result.stdout


def test_the_samples_build_parameters_are_mapped_or_accepted_with_a_note(tmp_path: Path) -> None:
    config = (
        "condaPlatforms:\n- {platform: linux-64, defaultSubmit: true}\njobParameters:\n"
        "- {name: S3CondaChannel, value: 's3://studio/Conda/Samples'}\n- {name: CondaChannelName, value: Studio}\n"
        "- {name: CondaBuildConfigFile, value: build-config.yaml}\n"
        "- {name: OverrideSourceArchive, value: ../archive_files/tool-1.0-linux.tar.gz}\n"
        + "".join(
            f"- {{name: {n}, value: '1'}}\n"
            for n in ("PackageBuildEnvName", "ReusePackageBuildEnv", "CondaBuildEnvName", "ReuseCondaBuildEnv")
        )
        + "- {name: JobScriptDir, value: scripts}\n- {name: OverridePrefixLength, value: 200}\n"
    )
    tool = _recipes(tmp_path, config=config)
    (tool / "build-config.yaml").write_text("python:\n  - 3.10  # [linux]\n  - 3.11  # [win]\n")
    result = subprocess.run(
        [sys.executable, "-m", "condafarm", "submit", str(tool), "--dry-run"],
        capture_output=True,
        text=True,
        cwd=tool,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (job,) = _jobs(result.stdout)
    params = job["params"]
    assert params["DestinationChannel"] == "s3://studio/Conda/Samples"  # type: ignore[index]
    # in the bundle as conda_build_config.yaml, the name under which rattler-build reads its selectors
    assert params["VariantConfigFile"] == "conda_build_config.yaml"  # type: ignore[index]
    assert job["files"] == ["conda_build_config.yaml"]
    archive = tool / "../archive_files/tool-1.0-linux.tar.gz"  # relative to deadline-cloud.yaml, not the cwd
    assert params["OverrideSourceArchive1"] == str(archive)  # type: ignore[index]
    assert params["OverridePrefixLength"] == "200"  # type: ignore[index]
    for name in ("CondaChannelName", "PackageBuildEnvName", "ReuseCondaBuildEnv", "JobScriptDir"):
        assert name not in params  # type: ignore[operator]
        assert f"jobParameters {name}: not needed" in result.stderr
    assert "OverridePrefixLength 200: rattler-build has no prefix-length setting" in result.stderr


def test_dash_q_names_the_queue_as_in_the_samples_submit_package_job(tmp_path: Path) -> None:
    result = run_cli("submit", str(_recipes(tmp_path)), "-q", "Package Build Queue", "--dry-run", "--to", CHANNEL)
    assert result.returncode == 0, result.stderr
    assert "queue: the queue named 'Package Build Queue'" in result.stdout
    quiet = run_cli("submit", str(_recipes(tmp_path / "again")), "--quiet", "--dry-run", "--to", CHANNEL)
    assert quiet.returncode == 0, quiet.stderr


def test_dry_run_renders_every_job_for_its_platform_and_says_which_would_fail(tmp_path: Path) -> None:
    config = "condaPlatforms:\n- {platform: linux-64, defaultSubmit: true}\n- {platform: win-64, defaultSubmit: true}\n"
    tool = _recipes(tmp_path, config=config, archive=False)
    (tool / "recipe" / "recipe.yaml").write_text(
        "package:\n  name: tool\n  version: '1.0'\nsource:\n  - if: win\n    then:\n"
        "      url: https://example.invalid/tool-${{ windows_only_setting }}.zip\n      sha256: " + "2" * 64 + "\n"
        "build:\n  script:\n    - echo built\n"
    )
    result = run_cli("submit", str(tool), "--dry-run", "--to", CHANNEL, env=_offline_env(tmp_path))
    assert result.returncode == 8, result.stderr
    linux, windows = result.stdout.split("job 2 of 2: win-64")
    assert "  renders: linux-64/tool-1.0-" in linux and "would fail" not in linux
    assert "  would fail: " in windows and "windows_only_setting" in windows
    assert "dry run: 2 job(s) not submitted; 1 would fail" in result.stdout
    assert "1 of 2 job(s) would fail, win-64 first" in result.stderr


@pytest.mark.parametrize(
    ("files", "platforms"),
    [
        # a Windows-only conda-build recipe: bld.bat alone (robocopy, C:\ paths), no skip
        ({"meta.yaml": "package: {name: t, version: '1'}\n", "bld.bat": "robocopy . C:\\tool /E\n"}, ["win-64"]),
        ({"meta.yaml": "package: {name: t, version: '1'}\nbuild:\n  skip: true  # [not linux64]\n"}, ["linux-64"]),
        (
            {"recipe.yaml": "package: {name: t, version: '1'}\nbuild:\n  skip: [osx]\n  script: [echo]\n"},
            ["linux-64", "win-64"],
        ),
        ({"recipe.yaml": "package: {name: t, version: '1'}\nbuild:\n  script: [echo]\n"}, ["linux-64"]),
        ({"recipe.yaml": RECIPE}, ["linux-64"]),
    ],
)
def test_without_deadline_cloud_yaml_the_platforms_are_those_the_recipe_builds(
    tmp_path: Path, files: dict[str, str], platforms: list[str]
) -> None:
    folder = tmp_path / "recipe"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    result = run_cli("submit", str(folder), "--dry-run", "--to", CHANNEL, env=_offline_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [j["platform"] for j in _jobs(result.stdout)] == platforms


def test_a_recipe_that_builds_nowhere_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "recipe"
    folder.mkdir()
    (folder / "recipe.yaml").write_text("package: {name: t, version: '1'}\nbuild:\n  skip: [true]\n")
    result = run_cli("submit", str(folder), "--dry-run", "--to", CHANNEL, env=_offline_env(tmp_path))
    assert result.returncode == 2 and "builds on none of linux-64, win-64, osx-arm64" in result.stderr


QUEUES = [
    Queue("queue-1", "Production", "render-attachments"),
    Queue("queue-2", "Package Build Queue", "studio-attachments"),
    Queue("queue-3", "Package Test", None),
]


@pytest.mark.parametrize(
    ("to", "bucket", "channel", "asked"),
    [
        # a name lives in the chosen queue's job attachments bucket, which only that queue can tell
        ("Testing", None, "s3://studio-attachments/Conda/Testing", [("ListQueues", ""), ("GetQueue", "queue-2")]),
        (None, None, "s3://studio-attachments/Conda/Default", [("ListQueues", ""), ("GetQueue", "queue-2")]),
        ("Testing", "other-bucket", "s3://other-bucket/Conda/Testing", [("ListQueues", "")]),
        ("s3://studio-packages/Conda/Default/", None, CHANNEL, [("ListQueues", "")]),
    ],
)
def test_submit_target_chooses_the_queue_by_name_and_asks_it_for_a_bucket_only_for_a_channel_name(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    to: str | None,
    bucket: str | None,
    channel: str,
    asked: list[tuple[str, str]],
) -> None:
    from deadline.client.config import get_setting

    with deadline_api(monkeypatch, tmp_path, QUEUES) as api:
        target = submit_target(to, bucket, farm_id=FARM_ID, queue="Package Build")
    assert (target.queue, target.channel) == ("Package Build Queue (queue-2)", channel)
    assert get_setting("defaults.queue_id", config=target.config) == "queue-2"
    assert api.requests == asked


def test_submit_target_with_a_queue_id_and_an_s3_channel_asks_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with deadline_api(monkeypatch, tmp_path, QUEUES) as api:
        target = submit_target(CHANNEL, queue_id="queue-1", farm_id=FARM_ID)
        assert (target.queue, target.channel) == ("queue-1", CHANNEL) and api.requests == []
        named = submit_target("Testing", queue_id="queue-1", farm_id=FARM_ID)
    assert named.channel == "s3://render-attachments/Conda/Testing" and api.requests == [("GetQueue", "queue-1")]


def test_submit_target_refuses_before_any_aws_call_and_a_dry_run_makes_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with deadline_api(monkeypatch, tmp_path, QUEUES) as api:
        for to in ("./channel", "https://conda.example/studio", "a/../b", "C:relative"):
            with pytest.raises(UsageError, match=r"s3://BUCKET/PREFIX"):
                submit_target(to, farm_id=FARM_ID)
        dry = submit_target("Testing", farm_id=FARM_ID, queue="Package", dry_run=True)
        with pytest.raises(UsageError, match="several queues' names start with 'Package'"):
            submit_target("Testing", farm_id=FARM_ID, queue="Package")
        with pytest.raises(UsageError, match="no job attachments bucket; give --bucket"):
            submit_target("Testing", farm_id=FARM_ID, queue="Package Test")
    assert dry == SubmitTarget(
        "the queue named 'Package' (or the only one starting so)", f"s3://{QUEUE_BUCKET_PLACEHOLDER}/Conda/Testing"
    )
    assert api.requests == [("ListQueues", ""), ("ListQueues", ""), ("GetQueue", "queue-3")]
