"""Channels and command runs shared by the environment tests (test_env*.py, test_iam.py, test_render_queue_env.py,
test_job_records.py), hostile ones included."""

from __future__ import annotations

import json
import os
import re
import secrets
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


def s3_render_channel(
    s3: S3Endpoint, bucket: str, tmp_path: Path, keys: tuple[str, str] = ("testing", "testing")
) -> str:
    """An S3 channel (under a prefix of its own in `bucket`) with the render packages, indexed; its URL."""
    prefix = f"t{secrets.token_hex(4)}/Conda/Default"
    folder = tmp_path / "build"
    render_packages(folder)
    shutil.rmtree(folder / ".staging")
    upload(s3, bucket, prefix, folder, keys)
    index_s3(s3, f"s3://{bucket}/{prefix}", keys)
    return f"s3://{bucket}/{prefix}"


#: Every character the issue names; running any of it would create a file named PWNED* or TICK* in cwd.
HOSTILE = "x$(touch PWNED)y `touch TICK` 'q' \"d\" é 100% !x! a;b"
VALUE = "$(touch PWNED_VALUE) `touch TICK_VALUE` 'q' \"d\" é %PATH% !x! a;b"
ODD_SCRIPT = "etc/conda/activate.d/z $(touch PWNED_NAME) 'q'.sh"


def hostile_channel(root: Path) -> Path:
    """An indexed folder channel whose render-tool needs a package holding a hostile env_vars.d value and a
    hostile activate.d file name."""
    from condafarm import index_channel, parse_channel

    make_package(
        root,
        "render-tool",
        "1.0",
        script=True,
        depends=["render-lic >=2", "odd-values"],
        files={"etc/render-tool.cfg": "home={prefix}\n"},
    )
    make_package(root, "render-lic", "2.0", files=LIC_FILES)
    make_package(
        root,
        "odd-values",
        "1.0",
        files={
            "etc/conda/env_vars.d/odd.json": '{"ODD_VALUE": ' + json.dumps(VALUE) + "}",
            ODD_SCRIPT: 'export FROM_ODD_NAME="ran from $CONDA_PREFIX"\n',
        },
    )
    shutil.rmtree(root / ".staging")
    index_channel(parse_channel(str(root)))
    return root


def nothing_ran(*folders: Path) -> None:
    """No hostile text ran as a command: none of the files it would `touch` exists under `folders`."""
    for folder in folders:
        assert not [p for p in folder.rglob("*") if p.name.startswith(("PWNED", "TICK"))], folder
