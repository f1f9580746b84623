"""Channels and command runs shared by the environment tests (test_env*.py, test_iam.py, test_render_queue_env.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from support.cli import run_cli
from support.packages import make_package
from support.s3 import S3Endpoint

#: The activation a package can ask for: a variable from env_vars.d, one from an activate.d script (sh and cmd).
LIC_FILES = {
    "etc/conda/env_vars.d/render-lic.json": '{"RENDER_LIC_SERVER": "5053@lic.studio"}',
    "etc/conda/activate.d/render-lic.sh": 'export RENDER_LIC_FILE="$CONDA_PREFIX/etc/lic.dat"\n',
    "etc/conda/activate.d/render-lic.bat": '@SET "RENDER_LIC_FILE=%CONDA_PREFIX%\\etc\\lic.dat"\r\n',
}


def render_packages(root: Path, build_number: int = 0) -> None:
    """`render-tool` (a command on PATH, a config file embedding its prefix) needing `render-lic` (activation)."""
    make_package(
        root,
        "render-tool",
        "1.0",
        build_number,
        script=True,
        depends=["render-lic >=2"],
        files={"etc/render-tool.cfg": "home={prefix}\n"},
    )
    make_package(root, "render-lic", "2.0", files=LIC_FILES)


def folder_channel(root: Path) -> Path:
    """An indexed folder channel with the render packages."""
    from condafarm import index_channel, parse_channel

    render_packages(root)
    shutil.rmtree(root / ".staging")
    index_channel(parse_channel(str(root)))
    return root


def upload(
    s3: S3Endpoint, bucket: str, prefix: str, folder: Path, keys: tuple[str, str] = ("testing", "testing")
) -> None:
    client = s3.client(*keys)
    for path in sorted(folder.rglob("*.conda")):
        if ".staging" not in path.parts:
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


def index_s3(s3: S3Endpoint, url: str, keys: tuple[str, str] = ("testing", "testing")) -> None:
    result = run_cli("index", url, env={**s3.env(), "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]})
    assert result.returncode == 0, result.stderr


def openjd_env(stdout: str) -> dict[str, str]:
    """The `openjd_env: NAME=VALUE` (or JSON-quoted `openjd_env: "NAME=VALUE"`) lines of an `env enter` run."""
    found = {}
    for match in re.finditer(r"^openjd_env: (.*)$", stdout, re.MULTILINE):
        text = json.loads(match.group(1)) if match.group(1).startswith('"') else match.group(1)
        name, _, value = text.partition("=")
        found[name] = value
    return found


def env_with(cache: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CONDAFARM_ENV_CACHE": str(cache), **extra}
