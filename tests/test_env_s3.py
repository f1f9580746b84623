"""Environments from S3 channels on the local endpoint: credentials as a Deadline Cloud worker gets them
(AWS_PROFILE with a credential_process, no key variables), and lockfiles that name S3 objects by s3:// URL."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from support.cli import run_cli
from support.environments import env_with, openjd_env, s3_render_channel
from support.s3 import IamEndpoint, S3Endpoint

from condafarm.env.request.lockfile import read_explicit_lockfile


def test_worker_profile_with_credential_process_reads_the_channel(iam_s3: IamEndpoint, tmp_path: Path) -> None:
    channel = s3_render_channel(iam_s3.s3, iam_s3.bucket, tmp_path, iam_s3.writer)
    helper = tmp_path / "queue_role.py"
    reader_id, reader_secret = iam_s3.reader
    helper.write_text(
        "import json\n"
        f"print(json.dumps({{'Version': 1, 'AccessKeyId': {reader_id!r}, 'SecretAccessKey': {reader_secret!r}}}))\n"
    )
    config = tmp_path / "aws_config"
    config.write_text(f"[profile queue-role]\ncredential_process = {sys.executable} {helper}\n")
    env = {k: v for k, v in iam_s3.s3.env().items() if not k.startswith(("AWS_ACCESS_KEY", "AWS_SECRET"))}
    env.update(AWS_PROFILE="queue-role", AWS_CONFIG_FILE=str(config), CONDAFARM_ENV_CACHE=str(tmp_path / "cache"))
    result = run_cli("env", "enter", "--packages", "render-tool", "--channels", channel, env=env)
    assert result.returncode == 0, result.stderr
    assert (Path(openjd_env(result.stdout)["CONDA_PREFIX"]) / "bin" / "render-tool").exists()
    assert reader_secret not in result.stdout + result.stderr


def test_s3_lockfile_names_objects_by_s3_url_and_recreates_them(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    channel = s3_render_channel(s3, bucket, tmp_path)
    session = tmp_path / "session"
    session.mkdir()
    env = env_with(tmp_path / "cache", **{k: v for k, v in s3.env().items() if k.startswith("S3_")})
    entered = run_cli(
        "env", "enter", "--packages", "render-tool", "--channels", channel, "--session-dir", str(session), env=env
    )
    assert entered.returncode == 0, entered.stderr
    lock = session / "condafarm-env.lock.txt"
    _, locked = read_explicit_lockfile(lock.read_text())
    assert sorted(p.url for p in locked) == [
        f"{channel}/noarch/render-lic-2.0-h0_0.conda",
        f"{channel}/noarch/render-tool-1.0-h0_0.conda",
    ]
    recreated = run_cli("env", "create", str(tmp_path / "again"), "--lockfile", str(lock), env=env)
    assert recreated.returncode == 0, recreated.stderr
    manifest = json.loads((tmp_path / "again" / "conda-meta" / "condafarm-env.json").read_text())
    assert [p["url"] for p in manifest["locked"]] == sorted(p.url for p in locked)


def test_missing_s3_channel_is_a_readable_error(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    env = env_with(tmp_path / "cache", **{k: v for k, v in s3.env().items() if k.startswith("S3_")})
    channel = f"s3://{bucket}/No/Such/Channel"
    result = run_cli("env", "create", str(tmp_path / "e"), "--packages", "render-tool", "--channels", channel, env=env)
    assert result.returncode == 3, result.stderr
    assert result.stderr == (
        f"condafarm: error: channel {channel} has no noarch/repodata.json; check the URL or run "
        f"`condafarm index {channel}`\n"
    )
    assert not os.path.exists(tmp_path / "e")
