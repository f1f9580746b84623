"""The render queue environment (queue_environments/render_conda.yaml): valid OpenJD, and run by `openjd run`
around a job whose step runs a packaged command from an S3 channel on the local endpoint, including a job written
for the deadline-cloud-samples conda queue environments, unchanged."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.environments import (
    HOSTILE,
    VALUE,
    hostile_channel,
    index_s3,
    nothing_ran,
    render_packages,
    s3_render_channel,
    upload,
)
from support.openjd import JOB, QUEUE_ENV, run_render_job
from support.s3 import S3Endpoint

#: A job written for the samples' conda queue environments: their parameter names and default channel name.
SAMPLES_JOB = {
    "specificationVersion": "jobtemplate-2023-09",
    "name": "samples render",
    "parameterDefinitions": [
        {"name": "CondaPackages", "type": "STRING", "default": "render-tool"},
        {"name": "CondaChannels", "type": "STRING", "default": "deadline-cloud"},
        {"name": "NamedCondaEnv", "type": "STRING", "default": "AUTOMATIC"},
        {"name": "ChannelPriority", "type": "STRING", "default": "Strict", "allowedValues": ["Strict", "Disabled"]},
    ],
    "steps": [{"name": "Render", "script": {"actions": {"onRun": {"command": "render-tool"}}}}],
}

#: The samples' queue environment parameters and the values they allow.
SAMPLES_PARAMETERS = {
    "CondaPackages": None,
    "CondaChannels": None,
    "NamedCondaEnv": None,
    "NamedCondaEnvAction": ["ACTIVATE", "REMOVE_AND_CREATE"],
    "NamedCondaEnvUpdateAfterMinutes": None,
    "RunCondaClean": ["True", "False"],
    "ChannelPriority": ["Strict", "Disabled"],
}


def test_queue_environment_is_a_valid_environment_template() -> None:
    from openjd.model import decode_environment_template, decode_job_template

    template = decode_environment_template(template=yaml.safe_load(QUEUE_ENV.read_text()))
    names = [p.name for p in template.parameterDefinitions or []]
    assert names[:2] == ["CondaPackages", "CondaChannels"]  # what Deadline Cloud submitters fill in
    channels = next(p for p in template.parameterDefinitions or [] if p.name == "CondaChannels")
    assert channels.default == "deadline-cloud"  # the samples' default, which the hosts' condarc maps
    decode_job_template(template=JOB)
    for action in (template.environment.script.actions.onEnter, template.environment.script.actions.onExit):  # type: ignore[union-attr]
        assert action is not None and action.command == "condafarm"  # no bash: the console script
    definitions = {p.name: p for p in template.parameterDefinitions or []}
    for name, values in SAMPLES_PARAMETERS.items():
        allowed = getattr(definitions[name], "allowedValues", None)
        assert values is None or set(values) <= set(allowed or values), name  # every value the samples allow


@pytest.mark.slow
def test_a_samples_job_runs_unchanged_with_deadline_cloud_mapped_by_condarc_to_s3(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    base = f"s3://{bucket}/t{secrets.token_hex(4)}/Conda"
    render_packages(tmp_path / "build")
    shutil.rmtree(tmp_path / "build" / ".staging")
    upload(s3, bucket, base.removeprefix(f"s3://{bucket}/") + "/deadline-cloud", tmp_path / "build")
    index_s3(s3, f"{base}/deadline-cloud")
    condarc = tmp_path / "condarc"  # what a service-managed fleet host has in /etc/conda/condarc
    condarc.write_text(yaml.safe_dump({"custom_channels": {"deadline-cloud": base}}))
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(SAMPLES_JOB))
    env = {
        **s3.env(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "CONDAFARM_ENV_CACHE": str(tmp_path / "cache"),
        "CONDARC": str(condarc),
        "CONDA_RESTRICT_RC_SEARCH_PATH": "1",
    }

    first = run_render_job(job, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert f"channel deadline-cloud is {base}/deadline-cloud (custom_channels in {condarc})" in first.stdout
    assert "(created)" in first.stdout and "render-tool 1.0 build 0" in first.stdout
    shot = ["NamedCondaEnv=shot-010", "ChannelPriority=Disabled", "NamedCondaEnvUpdateAfterMinutes=0"]
    named = run_render_job(job, env, *shot, "RunCondaClean=True")
    assert named.returncode == 0, named.stdout[-3000:] + named.stderr[-3000:]
    assert "emptied the cache" in named.stdout and ", disabled)" in named.stdout and "(created)" in named.stdout
    recreated = run_render_job(job, env, *shot, "NamedCondaEnvAction=REMOVE_AND_CREATE")
    assert recreated.returncode == 0, recreated.stdout[-3000:] + recreated.stderr[-3000:]
    assert "(updated)" in recreated.stdout and "render-tool 1.0 build 0" in recreated.stdout
    session = run_render_job(job, env, "NamedCondaEnv=")
    assert session.returncode == 0, session.stdout[-3000:] + session.stderr[-3000:]
    assert "condafarm-env (created)" in session.stdout and "render-tool 1.0 build 0" in session.stdout


@pytest.mark.slow
def test_openjd_run_gets_packages_from_s3_and_reuses_them(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    channel = s3_render_channel(s3, bucket, tmp_path)
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(JOB))
    openjd = shutil.which("openjd", path=str(Path(sys.executable).parent))
    assert openjd
    env = {
        **s3.env(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "CONDAFARM_ENV_CACHE": str(tmp_path / "cache"),
    }
    args = [openjd, "run", str(job), "--step", "Render", "--environment", str(QUEUE_ENV)]
    args += ["-p", "CondaPackages=render-tool", "-p", f"CondaChannels={channel}"]
    runs = [subprocess.run(args, env=env, capture_output=True, text=True, timeout=300) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "render-tool 1.0 build 0" in run.stdout  # the step found the packaged command on PATH
    first, second = (run.stdout for run in runs)
    assert "installing 2 package(s)" in first and "(created)" in first
    assert "(reused)" in second and "no solve, no install" in second
    assert "solving" not in second and "installing" not in second
    assert len([p for p in (tmp_path / "cache" / "envs").glob("*/*") if p.name.isdigit()]) == 1


@pytest.mark.slow
def test_openjd_run_activates_from_a_cache_folder_full_of_shell_syntax(tmp_path: Path) -> None:
    channel = hostile_channel(tmp_path / "channel")
    job = tmp_path / "job.yaml"
    show = {"name": "Show", "script": {"actions": {"onRun": {"command": "printenv", "args": ["ODD_VALUE"]}}}}
    job.write_text(yaml.safe_dump({**JOB, "steps": [*JOB["steps"], show]}))  # type: ignore[list-item]
    openjd = shutil.which("openjd", path=str(Path(sys.executable).parent))
    assert openjd
    work = tmp_path / "cwd"
    work.mkdir()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "CONDAFARM_ENV_CACHE": str(tmp_path / HOSTILE),
    }
    for step in ("Render", "Show"):
        args = [openjd, "run", str(job), "--step", step, "--environment", str(QUEUE_ENV)]
        args += ["-p", "CondaPackages=render-tool", "-p", f"CondaChannels={channel.as_uri()}"]
        run = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        expected = "render-tool 1.0 build 0" if step == "Render" else VALUE
        assert expected in run.stdout, run.stdout[-3000:]
    nothing_ran(work, tmp_path)


@pytest.mark.slow
def test_openjd_run_leaves_the_environment_artifacts_with_the_job_outputs(tmp_path: Path) -> None:
    from conda_lock.lockfile import parse_conda_lock_file
    from support.environments import folder_channel

    channel = folder_channel(tmp_path / "channel")
    outputs = tmp_path / "render outputs"
    job = tmp_path / "job.yaml"
    artifacts = {"name": "CondaArtifactsDir", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "OUT"}
    job.write_text(yaml.safe_dump({**JOB, "parameterDefinitions": [*JOB["parameterDefinitions"], artifacts]}))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "CONDAFARM_ENV_CACHE": str(tmp_path / "cache"),
    }
    params = ["CondaPackages=render-tool", f"CondaChannels={channel}", f"CondaArtifactsDir={outputs}"]
    run = run_render_job(job, env, *params)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sorted(p.name for p in outputs.iterdir()) == [
        "conda-lock.yml",
        "condafarm-env.lock.txt",
        "condafarm-env.yml",
        "pixi.lock",
    ]
    for artifact in outputs.iterdir():
        assert "# request: render-tool" in artifact.read_text(), artifact
    locked = parse_conda_lock_file(outputs / "conda-lock.yml")
    assert {p.name for p in locked.package} == {"render-tool", "render-lic"}
