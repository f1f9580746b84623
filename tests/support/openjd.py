"""Open Job Description as the tests run it: the job bundles and queue environments of this repository, a
render job, `openjd run` inside the render queue environment, and what a session's actions print."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from support import ROOT
from support.s3 import S3Endpoint

BUNDLES = ROOT / "job_bundles"
QUEUE_ENVS = ROOT / "queue_environments"
QUEUE_ENV = QUEUE_ENVS / "render_conda.yaml"

#: A job whose Render step runs `render-tool` from the environment the queue environment makes.
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


def run_render_job(job: Path, env: dict[str, str], *params: str) -> subprocess.CompletedProcess[str]:
    """`openjd run` of the Render step of `job` inside the render queue environment, with `params` (K=V)."""
    openjd = shutil.which("openjd", path=str(Path(sys.executable).parent))
    assert openjd
    args = [openjd, "run", str(job), "--step", "Render", "--environment", str(QUEUE_ENV)]
    for param in params:
        args += ["-p", param]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


def worker_env(s3: S3Endpoint, **extra: str) -> dict[str, str]:
    """A session's environment: condafarm installed (this venv) on PATH, S3 options for the local endpoint."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**s3.env(), **extra}
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    return env


def messages(result: subprocess.CompletedProcess[str], kind: str) -> list[str]:
    """The text of every `openjd_<kind>:` line the actions printed."""
    marker = f"openjd_{kind}: "
    return [line.split(marker, 1)[1] for line in result.stdout.splitlines() if marker in line]
