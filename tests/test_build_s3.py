"""`condafarm build` with S3 channels on the local endpoint: destination, dependency channels, permissions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.builds import RECIPES, run_installed
from support.cli import run_cli
from support.installs import install
from support.s3 import IamEndpoint, S3Endpoint

from condafarm import Channel, init_channel
from condafarm.build.channel_server import serve_channels


def objects(s3: S3Endpoint, bucket: str, keys: tuple[str, str] = ("testing", "testing")) -> dict[str, str]:
    """Every object in the bucket with its ETag, to prove a failed build changed nothing."""
    pages = s3.client(*keys).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def build_numbers(s3: S3Endpoint, bucket: str, name: str) -> list[int]:
    body = s3.client().get_object(Bucket=bucket, Key="Conda/Default/noarch/repodata.json")["Body"].read()
    records = json.loads(body)["packages.conda"].values()
    return sorted(int(r["build_number"]) for r in records if r["name"] == name)


@pytest.mark.slow
def test_plus_one_twice_on_s3_gives_n_and_n_plus_one_and_the_newest_installs_and_runs(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/Conda/Default"
    for _ in range(2):
        result = run_cli("build", str(RECIPES / "farm-hello"), "--to", url, "--build-number=+1", env=s3.env())
        assert result.returncode == 0, result.stderr
    assert build_numbers(s3, bucket, "farm-hello") == [1, 2]
    assert f"published {url}/noarch/farm-hello-1.0-" in result.stdout and "build number 2" in result.stdout
    assert not [k for k in objects(s3, bucket) if "/build-numbers/" in k], "reservations must be released"
    check = run_cli("check", url, env=s3.env())
    assert check.returncode == 0, check.stdout + check.stderr
    installed = install(url, tmp_path / "env", "farm-hello", endpoint=s3.url)
    assert [(r["name"], r["build_number"]) for r in installed] == [("farm-hello", 2)]
    assert run_installed(tmp_path / "env", "farm-hello") == "hello from farm-hello 1.0"


@pytest.mark.slow
def test_dependencies_come_from_an_s3_destination_and_s3_channels(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    """rattler-build reads S3 channels through condafarm's storage, with the endpoint given only to condafarm."""
    url = f"s3://{bucket}/Conda/Default"
    data = run_cli("build", str(RECIPES / "farm-data"), "--to", url, env=s3.env())
    assert data.returncode == 0, data.stderr
    to_s3 = run_cli("build", str(RECIPES / "farm-greet"), "--to", url, env=s3.env())
    assert to_s3.returncode == 0, to_s3.stderr
    assert "farm-greet 1.0: greetings, render farm" in to_s3.stderr  # the recipe's test found farm-data
    folder = tmp_path / "channel"
    flags = ["--endpoint-url", s3.url, "--force-path-style", "--region", "us-east-1"]
    to_folder = run_cli("build", str(RECIPES / "farm-greet"), "--to", str(folder), "-c", url, *flags)
    assert to_folder.returncode == 0, to_folder.stderr
    assert "farm-greet 1.0: greetings, render farm" in to_folder.stderr


def test_a_read_only_destination_fails_before_building_and_changes_nothing(iam_s3: IamEndpoint) -> None:
    url = f"s3://{iam_s3.bucket}/Conda/Default"
    writer = run_cli("init", url, env=iam_s3.env(iam_s3.writer))
    assert writer.returncode == 0, writer.stderr
    before = objects(iam_s3.s3, iam_s3.bucket, iam_s3.writer)
    for number in ("+1", "3"):
        result = run_cli(
            "build", str(RECIPES / "farm-hello"), "--to", url, f"--build-number={number}", env=iam_s3.env(iam_s3.reader)
        )
        assert result.returncode == 4, result.stderr
        assert "s3:PutObject" in result.stderr and "Running build script" not in result.stderr
        assert iam_s3.reader[1] not in result.stderr + result.stdout
    assert objects(iam_s3.s3, iam_s3.bucket, iam_s3.writer) == before


@pytest.mark.slow
def test_two_concurrent_builds_on_s3_with_plus_one_get_distinct_numbers(s3: S3Endpoint, bucket: str) -> None:
    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent)) or "condafarm"
    args = [exe, "build", str(RECIPES / "farm-hello"), "--to", f"s3://{bucket}/Conda/Default", "--build-number=+1"]
    procs = [
        subprocess.Popen([*args, "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=s3.env())
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert build_numbers(s3, bucket, "farm-hello") == [1, 2]


def test_the_channel_server_serves_s3_objects_only_under_its_random_prefix(s3_channel: Channel) -> None:
    init_channel(s3_channel)
    with serve_channels([s3_channel]) as urls:
        (url,) = urls
        with urllib.request.urlopen(f"{url}/noarch/repodata.json") as response:
            assert json.loads(response.read())["info"]["subdir"] == "noarch"
        base, token, index = url.rsplit("/", 2)
        wrong = [f"{base}/{token}x/{index}/noarch/repodata.json", f"{base}/{token}/9/noarch/repodata.json"]
        for address in [*wrong, f"{url}/noarch/missing.json"]:
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(address)
            assert caught.value.code == 404
