"""The render queue environment (queue_environments/render_conda.yaml): valid OpenJD, and run by `openjd run`
around a job whose step runs a packaged command from an S3 channel on the local endpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import ROOT
from support.s3 import S3Endpoint
from test_env_s3 import s3_render_channel

QUEUE_ENV = ROOT / "queue_environments" / "render_conda.yaml"

JOB = {
    "specificationVersion": "jobtemplate-2023-09",
    "name": "render",
    "parameterDefinitions": [
        {"name": "CondaPackages", "type": "STRING"},
        {"name": "CondaChannels", "type": "STRING"},
    ],
    "steps": [
        {
            "name": "Render",
            "script": {"actions": {"onRun": {"command": "render-tool"}}},
        }
    ],
}


def test_queue_environment_is_a_valid_environment_template() -> None:
    from openjd.model import decode_environment_template, decode_job_template

    template = decode_environment_template(template=yaml.safe_load(QUEUE_ENV.read_text()))
    names = [p.name for p in template.parameterDefinitions or []]
    assert names[:2] == ["CondaPackages", "CondaChannels"]  # what Deadline Cloud submitters fill in
    channels = next(p for p in template.parameterDefinitions or [] if p.name == "CondaChannels")
    assert channels.default is not None and channels.default.startswith("s3://")
    decode_job_template(template=JOB)
    for action in (template.environment.script.actions.onEnter, template.environment.script.actions.onExit):  # type: ignore[union-attr]
        assert action is not None and action.command == "condafarm"  # no bash: the console script


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
    from test_env_quoting import HOSTILE, VALUE, _channel, _nothing_ran

    channel = _channel(tmp_path / "channel")
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
    _nothing_ran(work, tmp_path)
