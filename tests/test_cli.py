"""The `condafarm` command as a user runs it: exit codes, one-line errors, nothing changed on failure."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from support.cli import run_cli
from support.packages import make_package
from support.s3 import IamEndpoint, S3Endpoint, upload_dir


def _channel_with(tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "channel"
    for name in names:
        make_package(root, name, subdir="linux-64")
    shutil.rmtree(root / ".staging", ignore_errors=True)
    return root


def _one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("condafarm: error: ")
    return lines[0]


def test_help_teaches_channels_and_exit_codes() -> None:
    result = run_cli("index", "--help")
    assert result.returncode == 0
    assert "s3://BUCKET/PREFIX" in result.stdout and "--endpoint-url" in result.stdout and "exit codes" in result.stdout


def test_init_index_ls_check_on_a_folder(tmp_path: Path) -> None:
    root = _channel_with(tmp_path, "alpha", "beta")
    first = run_cli("index", str(root))
    assert first.returncode == 0, first.stderr
    assert "2 added, 0 updated, 0 removed, 0 skipped" in first.stdout
    again = run_cli("index", str(root))
    assert "0 added" in again.stdout and "2 unchanged" in again.stdout
    listed = run_cli("ls", root.as_uri(), "beta")
    assert listed.returncode == 0 and "beta-1.0-h0_0.conda" in listed.stdout and "alpha" not in listed.stdout
    assert run_cli("check", str(root)).returncode == 0


def test_dry_run_lists_changes(tmp_path: Path) -> None:
    root = _channel_with(tmp_path, "alpha")
    result = run_cli("index", str(root), "--dry-run")
    assert "would add linux-64/alpha-1.0-h0_0.conda" in result.stdout
    assert not (root / "linux-64" / "repodata.json").exists()


def test_corrupt_package_warns_and_exits_zero_unless_strict(tmp_path: Path) -> None:
    root = _channel_with(tmp_path, "alpha")
    (root / "linux-64" / "broken-1.0-0.conda").write_bytes(b"not a zip at all")
    result = run_cli("index", str(root))
    assert result.returncode == 0
    assert "skipped linux-64/broken-1.0-0.conda" in result.stderr and "1 skipped" in result.stdout
    strict = run_cli("index", str(root), "--strict")
    assert strict.returncode == 7


def test_check_exits_non_zero_on_problems(tmp_path: Path) -> None:
    root = _channel_with(tmp_path, "alpha")
    run_cli("index", str(root))
    (root / "linux-64" / "alpha-1.0-h0_0.conda").unlink()
    result = run_cli("check", str(root))
    assert result.returncode == 7
    assert "indexed but the file is missing" in result.stdout


def test_missing_folder_is_one_line_error(tmp_path: Path) -> None:
    result = run_cli("index", str(tmp_path / "nope"))
    assert result.returncode == 3
    assert "condafarm init" in _one_line_error(result.stderr)


def test_bad_url_is_usage_error() -> None:
    result = run_cli("index", "s3://Not_A_Bucket/x")
    assert result.returncode == 2
    assert "not a valid S3 bucket name" in _one_line_error(result.stderr)


def test_s3_index_through_environment_options(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    upload_dir(s3, bucket, "Conda/Default", _channel_with(tmp_path, "alpha"))
    result = run_cli("index", f"s3://{bucket}/Conda/Default", env=s3.env())
    assert result.returncode == 0, result.stderr
    assert "1 added" in result.stdout
    assert run_cli("check", f"s3://{bucket}/Conda/Default", env=s3.env()).returncode == 0


def test_missing_bucket(s3: S3Endpoint) -> None:
    result = run_cli("index", "s3://no-such-bucket-here/Conda", env=s3.env())
    assert result.returncode == 3
    assert "bucket 'no-such-bucket-here' does not exist" in _one_line_error(result.stderr)


def test_unreachable_endpoint_fails_fast_with_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"S3_ENDPOINT_URL": f"http://127.0.0.1:{port}", "S3_FORCE_PATH_STYLE": "true"}
    import os

    result = run_cli("index", "s3://some-bucket/x", env={**os.environ, **env})
    assert result.returncode == 3
    assert f"cannot reach endpoint http://127.0.0.1:{port}" in _one_line_error(result.stderr)


def test_missing_credentials(s3: S3Endpoint, bucket: str) -> None:
    env = {k: v for k, v in s3.env().items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    result = run_cli("index", f"s3://{bucket}/x", env=env)
    assert result.returncode == 4
    assert "no AWS credentials found" in _one_line_error(result.stderr)


def test_wrong_credentials(iam_s3: IamEndpoint) -> None:
    env = iam_s3.env((iam_s3.reader[0], "wrong-secret"))
    result = run_cli("init", f"s3://{iam_s3.bucket}/wrong", env=env)
    assert result.returncode == 4
    line = _one_line_error(result.stderr)
    assert "rejected the AWS credentials" in line and "wrong-secret" not in line


def test_read_only_credentials_name_the_missing_permission_and_change_nothing(
    iam_s3: IamEndpoint, tmp_path: Path
) -> None:
    channel = f"s3://{iam_s3.bucket}/ro"
    assert run_cli("init", channel, env=iam_s3.env(iam_s3.writer)).returncode == 0
    client = iam_s3.s3.client(*iam_s3.writer)
    pkg = make_package(tmp_path, "alpha")
    client.upload_file(str(pkg), iam_s3.bucket, f"ro/noarch/{pkg.name}")
    before = client.get_object(Bucket=iam_s3.bucket, Key="ro/noarch/repodata.json")["Body"].read()
    result = run_cli("index", channel, env=iam_s3.env(iam_s3.reader))
    assert result.returncode == 4
    line = _one_line_error(result.stderr)
    # its first write is the commit's first: a shard file, before the shard index that would name it
    assert f"s3:PutObject on arn:aws:s3:::{iam_s3.bucket}/ro/noarch/shards/" in line
    after = client.get_object(Bucket=iam_s3.bucket, Key="ro/noarch/repodata.json")["Body"].read()
    assert after == before
    assert run_cli("check", channel, env=iam_s3.env(iam_s3.reader)).returncode == 7  # not indexed, readable


@pytest.mark.parametrize("bad_sub", ["linux-65"])
def test_unknown_subdir(tmp_path: Path, bad_sub: str) -> None:
    root = _channel_with(tmp_path, "alpha")
    result = run_cli("index", str(root), "--subdir", bad_sub)
    assert result.returncode == 2 and "unknown subdir" in result.stderr


def test_publish_to_a_missing_folder_is_refused_and_init_makes_it_a_channel(tmp_path: Path) -> None:
    """A mistyped `--to` must not start a new channel silently: refused as ls and check refuse it."""
    package = make_package(tmp_path / "out", "tool")
    typo = tmp_path / "nonexist" / "sub"
    result = run_cli("publish", str(package), "--to", str(typo))
    assert result.returncode == 3
    assert f"condafarm init {typo}" in _one_line_error(result.stderr)
    assert not (tmp_path / "nonexist").exists()
    assert run_cli("init", str(typo)).returncode == 0  # the hint works
    assert run_cli("publish", str(package), "--to", str(typo)).returncode == 0


def test_publish_of_a_folder_says_to_give_its_files(tmp_path: Path) -> None:
    make_package(tmp_path / "out", "tool")
    (tmp_path / "channel").mkdir()
    result = run_cli("publish", str(tmp_path / "out"), "--to", str(tmp_path / "channel"))
    assert result.returncode == 2
    line = _one_line_error(result.stderr)
    assert "is a folder" in line and "*.conda" in line and "no such file" not in line


def test_s3_options_before_the_command_as_aws_cli_users_write_them(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    upload_dir(s3, bucket, "Conda/Default", _channel_with(tmp_path, "alpha"))
    url = f"s3://{bucket}/Conda/Default"
    env = {**s3.env(), "S3_ENDPOINT_URL": "http://127.0.0.1:9", "S3_FORCE_PATH_STYLE": "false"}  # wrong ones
    first = ["--endpoint-url", s3.url, "--region", "us-east-1", "--force-path-style"]
    assert run_cli(*first, "index", url, env=env).returncode == 0
    listed = run_cli(*first, "ls", url, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "alpha" in listed.stdout
    # after the command they still work, and win over the ones before it
    after = run_cli("--endpoint-url", "http://127.0.0.1:9", "ls", url, "--endpoint-url", s3.url, env=s3.env())
    assert after.returncode == 0 and "alpha" in after.stdout, after.stderr


@pytest.mark.parametrize(("typed", "meant"), [(["lss"], "ls"), (["publsh"], "publish"), (["env", "creat"], "create")])
def test_a_mistyped_command_is_named_with_what_was_meant(typed: list[str], meant: str) -> None:
    result = run_cli(*typed, "x")
    assert result.returncode == 2
    assert f"did you mean '{meant}'?" in result.stderr
