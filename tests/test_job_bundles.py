"""The job bundles and the package-building queue environment: they validate with openjd-model, the three OS
build bundles cannot drift apart, their host requirements follow the chosen CPU architecture, and `openjd run`
runs them on this machine against a local S3 channel (including a deadline-cloud-samples style recipe folder,
submitted with `condafarm submit --dry-run --save-bundles`)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from openjd.model import create_job, decode_environment_template, decode_job_template
from support import ROOT
from support.builds import write_meta_recipe
from support.cli import run_cli
from support.installs import install
from support.openjd import BUNDLES, QUEUE_ENVS, messages, worker_env
from support.packages import make_package
from support.s3 import S3Endpoint, upload_dir
from support.upstream import make_upstream, reindex

from condafarm.farm.platforms import PLATFORM_HOSTS, host_os_and_arch, platform_for

BUILD_BUNDLES = {"linux": "build_linux", "windows": "build_windows", "macos": "build_macos"}
#: Values a submitter must give (everything else has a default or comes from parameter_values.yaml).
REQUIRED = {
    "build_linux": {"RecipeDir": "recipe", "DestinationChannel": "s3://bucket/Conda/Default"},
    "build_windows": {"RecipeDir": "recipe", "DestinationChannel": "s3://bucket/Conda/Default"},
    "build_macos": {"RecipeDir": "recipe", "DestinationChannel": "s3://bucket/Conda/Default"},
    "publish_packages": {"PackagesDir": "dist", "DestinationChannel": "s3://bucket/Conda/Default"},
    "maintain_channel": {"Channel": "s3://bucket/Conda/Default"},
}
SAMPLES = ROOT / "tests" / "data" / "samples"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _bundles() -> list[Path]:
    return sorted(p for p in BUNDLES.iterdir() if (p / "template.yaml").is_file())


def _queue_envs() -> list[Any]:
    return [decode_environment_template(template=_load(p)) for p in sorted(QUEUE_ENVS.glob("*.yaml"))]


def _parameter_values(bundle: Path) -> dict[str, str]:
    """parameter_values.yaml flattened the way `openjd run -p` takes it, without Deadline's own settings."""
    values = _load(bundle / "parameter_values.yaml")["parameterValues"]
    return {v["name"]: str(v["value"]) for v in values if ":" not in v["name"]}


def _host_requirements(template: dict[str, Any]) -> dict[str, list[str]]:
    (step,) = template["steps"]
    return {a["name"]: a["anyOf"] for a in step["hostRequirements"]["attributes"]}


def _parameter(template: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in template["parameterDefinitions"] if p["name"] == name)


def test_every_bundle_and_required_parameter_is_known() -> None:
    assert {p.name for p in _bundles()} == set(REQUIRED)
    for bundle in _bundles():
        template = _load(bundle / "template.yaml")
        required = {p["name"] for p in template["parameterDefinitions"] if "default" not in p}
        assert required == set(REQUIRED[bundle.name]), bundle.name


@pytest.mark.parametrize("path", sorted(QUEUE_ENVS.glob("*.yaml")), ids=lambda p: p.name)
def test_queue_environment_decodes(path: Path) -> None:
    decode_environment_template(template=_load(path))


@pytest.mark.parametrize("bundle", _bundles(), ids=lambda p: p.name)
def test_bundle_creates_a_job_with_its_parameter_values_and_the_queue_environments(bundle: Path) -> None:
    template = decode_job_template(template=_load(bundle / "template.yaml"))
    values = {**_parameter_values(bundle), **REQUIRED[bundle.name]}
    job = create_job(
        job_template=template,
        job_parameter_values={k: _typed(template, k, v) for k, v in values.items()},
        environment_templates=_queue_envs(),
    )
    assert "{{" not in job.name
    deadline_settings = {v["name"] for v in _load(bundle / "parameter_values.yaml")["parameterValues"]}
    assert "deadline:maxRetriesPerTask" in deadline_settings and "deadline:maxFailedTasksCount" in deadline_settings
    for step in job.steps:
        for action in [step.script.actions.onRun]:
            assert action.command == "condafarm-worker", "steps run condafarm-worker, never a shell"


def _typed(template: Any, name: str, value: str) -> Any:
    from openjd.model import ParameterValue, ParameterValueType

    (definition,) = [p for p in template.parameterDefinitions if p.name == name]
    return ParameterValue(type=ParameterValueType(definition.type.value), value=value)


def test_every_number_parameter_has_a_lowest_and_a_highest_value() -> None:
    """A spin box with no bounds lets a submitter ask for 10**18 GB free or minutes: OpenJD refuses it instead."""
    for path in [*(b / "template.yaml" for b in _bundles()), *QUEUE_ENVS.glob("*.yaml")]:
        for parameter in _load(path).get("parameterDefinitions", []):
            if parameter["type"] in ("INT", "FLOAT"):
                assert "minValue" in parameter and "maxValue" in parameter, (path.name, parameter["name"])


def test_no_template_step_needs_a_shell() -> None:
    for path in [*(b / "template.yaml" for b in _bundles()), *QUEUE_ENVS.glob("*.yaml")]:
        text = path.read_text()
        for shell in ("command: bash", "command: sh", "command: cmd", "command: powershell", ".sh\n", ".bat\n"):
            assert shell not in text, f"{path.name} uses {shell.strip()}"


def test_os_build_bundles_differ_only_in_host_requirements_and_platforms() -> None:
    templates = {os_: _load(BUNDLES / name / "template.yaml") for os_, name in BUILD_BUNDLES.items()}
    values = {os_: _load(BUNDLES / name / "parameter_values.yaml") for os_, name in BUILD_BUNDLES.items()}

    def normalised(template: dict[str, Any]) -> dict[str, Any]:
        t = copy.deepcopy(template)
        del t["description"]  # prose naming the OS
        t["steps"][0]["hostRequirements"] = None
        for name in ("CpuArch", "CondaPlatform"):
            _parameter(t, name)["description"] = None  # names the OS's platforms
        _parameter(t, "CpuArch")["default"] = None
        return t

    for os_, template in templates.items():
        assert normalised(template) == normalised(templates["linux"]), f"build_{os_} drifted from build_linux"
        assert values[os_] == values["linux"], f"build_{os_}/parameter_values.yaml drifted"
        hosts = _host_requirements(template)
        assert hosts == {"attr.worker.os.family": [os_], "attr.worker.cpu.arch": ["{{Param.CpuArch}}"]}
        arch = _parameter(template, "CpuArch")
        assert set(arch["allowedValues"]) == {a for o, a in PLATFORM_HOSTS.values() if o == os_}
        assert platform_for(os_, arch["default"]) is not None


@pytest.mark.parametrize("conda_platform", sorted(PLATFORM_HOSTS))
def test_build_job_host_requirements_follow_the_platform_cpu_architecture(conda_platform: str) -> None:
    """Each platform's job, created as `condafarm submit` and the Deadline GUI create it, asks for hosts of
    that platform's OS and CPU architecture (linux-aarch64 on arm64, osx-64 on x86_64 macOS, ...)."""
    os_, arch = PLATFORM_HOSTS[conda_platform]
    bundle = BUNDLES / BUILD_BUNDLES[os_]
    template = decode_job_template(template=_load(bundle / "template.yaml"))
    values = {**REQUIRED[bundle.name], "CpuArch": arch, "CondaPlatform": conda_platform}
    job = create_job(job_template=template, job_parameter_values={k: _typed(template, k, v) for k, v in values.items()})
    (step,) = job.steps
    assert {a.name: a.anyOf for a in step.hostRequirements.attributes} == {
        "attr.worker.os.family": [os_],
        "attr.worker.cpu.arch": [arch],
    }
    assert platform_for(os_, arch) == conda_platform


def openjd_run(
    template: Path,
    params: dict[str, str],
    env: dict[str, str],
    *,
    queue_env: str = "conda_build.yaml",
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`openjd run` a job with a queue environment (the package-building one by default), as a worker host
    would run it."""
    args = [str(Path(sys.executable).parent / "openjd"), "run", str(template)]
    for key, value in params.items():
        args += ["-p", f"{key}={value}"]
    args += ["--environment", str(QUEUE_ENVS / queue_env)]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, check=False)


@pytest.mark.slow
def test_maintenance_bundle_indexes_and_checks_an_s3_channel(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    folder = tmp_path / "uploaded"
    for name in ("alpha", "beta"):
        make_package(folder, name, subdir="linux-64")
    shutil.rmtree(folder / ".staging")
    upload_dir(s3, bucket, "Conda/Default", folder)  # copied in by another tool: not indexed yet
    channel = f"s3://{bucket}/Conda/Default"
    template = BUNDLES / "maintain_channel" / "template.yaml"

    unindexed = openjd_run(template, {"Channel": channel, "Action": "check"}, worker_env(s3))
    assert unindexed.returncode != 0
    assert any("problem(s)" in m for m in messages(unindexed, "fail")), unindexed.stdout

    indexed = openjd_run(template, {"Channel": channel, "Action": "index"}, worker_env(s3))
    assert indexed.returncode == 0, indexed.stdout + indexed.stderr
    assert messages(indexed, "status")[-1] == f"{channel}: ok, 2 packages"
    assert "100.0" in messages(indexed, "progress")
    body = s3.client().get_object(Bucket=bucket, Key="Conda/Default/linux-64/repodata.json")["Body"].read()
    repodata = json.loads(body)
    assert set(repodata["packages.conda"]) == {"alpha-1.0-h0_0.conda", "beta-1.0-h0_0.conda"}

    checked = openjd_run(template, {"Channel": channel, "Action": "check"}, worker_env(s3))
    assert checked.returncode == 0, checked.stdout

    for action, name in (("yank", "alpha-1.0-h0_0.conda"), ("remove", "beta-1.0-h0_0.conda")):
        done = openjd_run(template, {"Channel": channel, "Action": action, "Filenames": name}, worker_env(s3))
        assert done.returncode == 0, done.stdout
        assert messages(done, "status")[-1] == f"{channel}: ok, {1 if action == 'yank' else 0} packages"
    body = s3.client().get_object(Bucket=bucket, Key="Conda/Default/linux-64/repodata.json")["Body"].read()
    repodata = json.loads(body)
    assert repodata["packages.conda"] == {} and repodata["removed"] == ["alpha-1.0-h0_0.conda"]
    listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="Conda/Default/linux-64/")
    files = {o["Key"].rsplit("/", 1)[1] for o in listed["Contents"] if o["Key"].endswith(".conda")}
    assert files == {"alpha-1.0-h0_0.conda"}, "yank keeps the file, remove deletes it"


@pytest.mark.slow
def test_maintenance_bundle_prunes_old_builds_in_two_phases_and_writes_the_page(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    folder = tmp_path / "builds"
    for number in range(4):
        make_package(folder, "nightly", "1.0", build_number=number)
    shutil.rmtree(folder / ".staging")
    upload_dir(s3, bucket, "Conda/Dev", folder)
    channel = f"s3://{bucket}/Conda/Dev"
    template = BUNDLES / "maintain_channel" / "template.yaml"
    assert openjd_run(template, {"Channel": channel, "Action": "index"}, worker_env(s3)).returncode == 0
    prune = {"Channel": channel, "Action": "prune", "KeepBuilds": "2", "NewerThanDays": "", "GraceHours": "0"}
    first = openjd_run(template, prune, worker_env(s3))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "yanked 2, deleted 0" in first.stdout and messages(first, "status")[-1] == f"{channel}: ok, 2 packages"
    second = openjd_run(template, prune, worker_env(s3))  # the grace period (0 h) is over: the files go
    assert second.returncode == 0 and "deleted 2" in second.stdout, second.stdout
    listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="Conda/Dev/noarch/")
    files = sorted(o["Key"].rsplit("/", 1)[1] for o in listed["Contents"] if o["Key"].endswith(".conda"))
    assert files == ["nightly-1.0-h0_2.conda", "nightly-1.0-h0_3.conda"]
    page = openjd_run(template, {"Channel": channel, "Action": "page"}, worker_env(s3))
    assert page.returncode == 0 and "2 builds" in page.stdout, page.stdout
    html = s3.client().get_object(Bucket=bucket, Key="Conda/Dev/index.html")["Body"].read()
    assert b"nightly-1.0-h0_3.conda" in html and b"nightly-1.0-h0_0.conda" not in html


@pytest.mark.slow
def test_maintenance_bundle_mirrors_what_the_kept_specs_need_now(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    upstream = make_upstream(tmp_path / "upstream", fillers=0)
    channel = f"s3://{bucket}/Conda/Mirror"
    first = run_cli("mirror", str(upstream), "--to", channel, "--specs", "renderapp", env=s3.env())
    assert first.returncode == 0, first.stderr
    make_package(upstream, "pyshim", "1.1")
    reindex(upstream)
    template = BUNDLES / "maintain_channel" / "template.yaml"
    result = openjd_run(template, {"Channel": channel, "Action": "mirror"}, worker_env(s3))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "copied noarch/pyshim-1.1-h0_0.conda" in result.stdout
    assert messages(result, "status")[-1] == f"{channel}: ok, 5 packages"


@pytest.mark.slow
def test_queue_environment_puts_condafarm_on_the_session_path(s3: S3Endpoint, bucket: str) -> None:
    """A host whose PATH lacks condafarm's folder: the queue environment, given the full command path, adds it."""
    env = worker_env(s3)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != str(Path(sys.executable).parent))
    env["PATH"] = env["PATH"] or os.defpath
    template = BUNDLES / "maintain_channel" / "template.yaml"
    worker = str(Path(sys.executable).parent / "condafarm-worker")
    s3.client().put_object(Bucket=bucket, Key="Conda/Default/noarch/placeholder.txt", Body=b"")
    result = openjd_run(template, {"Channel": f"s3://{bucket}/Conda/Default", "Action": "index"}, env)
    assert result.returncode != 0, "without condafarm on PATH and no CondafarmWorker, the session cannot start"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "openjd"),
            "run",
            str(template),
            "-p",
            f"Channel=s3://{bucket}/Conda/Default",
            "-p",
            "Action=index",
            "-p",
            f"CondafarmWorker={worker}",
            "--environment",
            str(QUEUE_ENVS / "conda_build.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (path_line,) = [m for m in result.stdout.splitlines() if "openjd_env: " in m and "PATH=" in m]
    assert str(Path(sys.executable).parent) in path_line


@pytest.mark.slow
def test_publish_bundle_publishes_attached_packages_once(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = [make_package(dist, "gamma", subdir="linux-64"), make_package(dist, "delta")]
    shutil.rmtree(dist / ".staging")
    channel = f"s3://{bucket}/Conda/Default"
    template = BUNDLES / "publish_packages" / "template.yaml"
    params = {"PackagesDir": str(dist), "DestinationChannel": channel}

    first = openjd_run(template, params, worker_env(s3))
    assert first.returncode == 0, first.stdout + first.stderr
    assert messages(first, "status")[-1] == f"published 2 package(s) to {channel}"
    for path in built:
        subdir = path.parent.name
        body = s3.client().get_object(Bucket=bucket, Key=f"Conda/Default/{subdir}/repodata.json")["Body"].read()
        assert path.name in json.loads(body)["packages.conda"]

    again = openjd_run(template, params, worker_env(s3))
    assert again.returncode != 0
    (reason,) = messages(again, "fail")
    assert "already exists" in reason and "--force" in reason

    forced = openjd_run(template, {**params, "Force": "true"}, worker_env(s3))
    assert forced.returncode == 0, forced.stdout
    check = openjd_run(BUNDLES / "maintain_channel" / "template.yaml", {"Channel": channel}, worker_env(s3))
    assert messages(check, "status")[-1] == f"{channel}: ok, 2 packages"


@pytest.mark.slow
def test_linux_build_bundle_builds_an_example_recipe_into_an_s3_channel(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    """Twice with BuildNumber +1: build numbers 1 then 2; a render job with the render queue environment gets
    the newest and runs its command."""
    channel = f"s3://{bucket}/Conda/Default"
    params = {
        "RecipeDir": str(ROOT / "examples" / "recipes" / "farm-hello"),
        "RecipeName": "farm-hello",
        "DestinationChannel": channel,
    }
    numbers = []
    for _ in range(2):
        result = openjd_run(BUNDLES / "build_linux" / "template.yaml", params, worker_env(s3))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert messages(result, "status")[-1].startswith(f"published 1 package(s) to {channel}")
        assert messages(result, "progress")[-1] == "100.0"
        (line,) = [x for x in result.stdout.splitlines() if "published s3://" in x]
        numbers.append(int(line.rsplit("build number ", 1)[1].rstrip(")")))
    assert numbers == [1, 2]

    render = tmp_path / "render.yaml"
    render.write_text(RENDER_JOB)
    env = worker_env(s3, CONDAFARM_ENV_CACHE=str(tmp_path / "env-cache"))
    params = {"CondaPackages": "farm-hello", "CondaChannels": channel}
    rendered = openjd_run(render, params, env, queue_env="render_conda.yaml")
    assert rendered.returncode == 0, rendered.stdout[-3000:] + rendered.stderr[-2000:]
    assert "hello from farm-hello 1.0" in rendered.stdout
    assert "farm-hello-1.0-h4616a5c_2.conda" in rendered.stdout, "the render got the newest build"


def samples_recipes(tmp_path: Path) -> Path:
    """A deadline-cloud-samples `conda_recipes` folder: farm-vendor/{deadline-cloud.yaml,recipe/} and the two
    source archives its deadline-cloud.yaml names in archive_files/ (the recipe's URLs do not exist)."""
    root = tmp_path / "conda_recipes"
    shutil.copytree(SAMPLES / "farm-vendor", root / "farm-vendor")
    archives = root / "archive_files"
    archives.mkdir()
    for name, member, text in (
        ("farm-vendor-2.0-linux.tar.gz", "greeting.txt", "hello from the vendor\n"),
        ("farm-vendor-plugins-2.0.tar.gz", "plugin.txt", "a vendor plugin\n"),
    ):
        source = tmp_path / "archive-sources" / name
        source.mkdir(parents=True)
        (source / member).write_text(text)
        with tarfile.open(archives / name, "w:gz") as tar:
            tar.add(source / member, arcname=member)
    return root


def _flat_parameters(stdout: str) -> dict[str, str]:
    """The `-p NAME=VALUE` lines of a one-job `condafarm submit --dry-run`."""
    return dict(line[5:].split("=", 1) for line in stdout.splitlines() if line.startswith("  -p "))


@pytest.mark.slow
@pytest.mark.skipif(host_os_and_arch() != ("linux", "x86_64"), reason="builds the recipe's linux-64 platform")
def test_samples_recipe_folder_submits_and_builds_through_the_linux_bundle_and_installs(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    """The recipe's conditional Linux sources are replaced by the two archives, keeping their target
    directories and the patch; the package installs with the patched file and the plugin in place."""
    recipes = samples_recipes(tmp_path)
    channel = f"s3://{bucket}/Conda/Default"
    saved = tmp_path / "bundles"
    planned = run_cli(
        "submit", str(recipes / "farm-vendor"), "--to", channel, "--dry-run", "--save-bundles", str(saved)
    )
    assert planned.returncode == 0, planned.stderr
    params = _flat_parameters(planned.stdout)
    assert params["OverrideSourceArchive2"] == str(recipes / "archive_files" / "farm-vendor-plugins-2.0.tar.gz")
    assert (params["CondaPlatform"], params["CpuArch"], params["BuildTool"]) == ("linux-64", "x86_64", "rattler-build")

    result = openjd_run(saved / "01-linux-64" / "template.yaml", params, worker_env(s3))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert messages(result, "status")[-1].startswith(f"published 1 package(s) to {channel}")
    installed = install(channel, tmp_path / "env", "farm-vendor", endpoint=s3.url)
    assert [(r["name"], r["build_number"]) for r in installed] == [("farm-vendor", 1)]
    app = tmp_path / "env" / "opt" / "farm-vendor"
    assert (app / "greeting.txt").read_text() == "hello from the patched vendor\n"
    assert (app / "plugins" / "plugin.txt").read_text() == "a vendor plugin\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"CondaPlatform": "linux-aarch64"}, "CondaPlatform linux-aarch64 is built on linux arm64 hosts"),
        ({"ExtraBuildToolArgs": "--quiet"}, "ExtraBuildToolArgs --quiet: the task log always gets"),
        ({"ExtraBuildToolArgs": "--frobnicate"}, "ExtraBuildToolArgs --frobnicate is not a rattler-build option"),
        ({"EnableFastBuild": "true", "ExtraBuildToolArgs": "--package-format tar.bz2"}, "drop one of them"),
        ({"OverrideSourceArchive2": str(ROOT / "examples/recipes/farm-data/farm-data-1.0.tar.gz")}, "has 1 archive"),
        ({"OverrideSourceDir": str(ROOT / "examples")}, "no folder (path) source to replace"),
        ({"BuildTool": "conda-build"}, "BuildTool conda-build needs a meta.yaml"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, dict) else None,
)
@pytest.mark.skipif(host_os_and_arch() != ("linux", "x86_64"), reason="the refusals name this host as linux x86_64")
def test_a_build_parameter_the_job_cannot_honour_fails_the_task_saying_what_to_do(
    s3: S3Endpoint, bucket: str, params: dict[str, str], reason: str
) -> None:
    channel = f"s3://{bucket}/Conda/Default"
    recipe = ROOT / "examples" / "recipes" / "farm-data"
    base = {"RecipeDir": str(recipe), "DestinationChannel": channel}
    if "OverrideSourceArchive2" in params:
        base["OverrideSourceArchive1"] = str(recipe / "farm-data-1.0.tar.gz")
    result = openjd_run(BUNDLES / "build_linux" / "template.yaml", {**base, **params}, worker_env(s3))
    assert result.returncode != 0
    (failure,) = messages(result, "fail")
    assert reason in failure, failure
    listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="Conda/Default/")
    assert not [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".conda")]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="the meta.yaml's build script is build.sh")
def test_build_tool_conda_build_builds_the_meta_yaml_of_a_folder_that_has_both(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    """Some samples recipes hold a meta.yaml and a recipe.yaml; BuildTool chooses, as in the samples."""
    folder = write_meta_recipe(tmp_path / "farm-meta")
    (folder / "recipe.yaml").write_text("package: {name: farm-other, version: '1.0'}\nbuild: {noarch: generic}\n")
    channel = f"s3://{bucket}/Conda/Default"
    params = {"RecipeDir": str(folder), "DestinationChannel": channel, "BuildTool": "conda-build"}
    env = worker_env(s3, TMPDIR=str(tmp_path), TEMP=str(tmp_path), TMP=str(tmp_path))
    result = openjd_run(BUNDLES / "build_linux" / "template.yaml", params, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    (line,) = [x for x in result.stdout.splitlines() if "published s3://" in x]
    assert f"{channel}/noarch/farm-meta-1.2-" in line


#: A render job as a submitter makes it: the render queue environment reads CondaPackages and CondaChannels.
RENDER_JOB = """\
specificationVersion: jobtemplate-2023-09
name: render with farm-hello
parameterDefinitions:
- name: CondaPackages
  type: STRING
- name: CondaChannels
  type: STRING
steps:
- name: Render
  script:
    actions:
      onRun:
        command: farm-hello
"""


@pytest.mark.slow
@pytest.mark.skipif(host_os_and_arch() != ("linux", "x86_64"), reason="builds on this linux x86_64 host")
def test_the_samples_override_prefix_length_builds_and_the_task_log_says_what_it_does(
    s3: S3Endpoint, bucket: str
) -> None:
    """The samples' README shows OverridePrefixLength 200; rattler-build has no such setting: the job builds with
    its fixed-length placeholder prefix and says the value was not applied."""
    channel = f"s3://{bucket}/Conda/Default"
    recipe = ROOT / "examples" / "recipes" / "farm-hello"
    params = {"RecipeDir": str(recipe), "DestinationChannel": channel, "OverridePrefixLength": "200"}
    result = openjd_run(BUNDLES / "build_linux" / "template.yaml", params, worker_env(s3))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "OverridePrefixLength 200: not applied: rattler-build builds with its own fixed-length" in result.stdout
    assert messages(result, "status")[-1].startswith(f"published 1 package(s) to {channel}")
