"""`iam-policy`: the printed policies, and the read-only one loaded into an IAM-enforcing S3 server: a queue
with it creates environments from the channel and cannot publish to it."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import run_cli
from support.environments import index_s3, render_packages, upload
from support.moto import MotoServer, allow
from support.packages import make_package
from support.proxy import S3Proxy
from support.s3 import S3Endpoint

BUCKET = "policy-channel"
CHANNEL = f"s3://{BUCKET}/Conda/Default"


def policy(*args: str) -> dict[str, object]:
    result = run_cli("iam-policy", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_read_only_policy_reads_the_channel_prefix_only() -> None:
    doc = policy(CHANNEL, "--read-only")
    statements = {s["Sid"]: s for s in doc["Statement"]}  # type: ignore[attr-defined]
    assert statements["ReadChannel"]["Action"] == ["s3:GetObject"]
    assert statements["ReadChannel"]["Resource"] == [f"arn:aws:s3:::{BUCKET}/Conda/Default/*"]
    assert statements["ListChannel"]["Action"] == ["s3:ListBucket"]
    assert statements["ListChannel"]["Resource"] == [f"arn:aws:s3:::{BUCKET}"]
    assert statements["ListChannel"]["Condition"] == {"StringLike": {"s3:prefix": ["Conda/Default", "Conda/Default/*"]}}
    assert len(statements) == 2


def test_read_write_policy_adds_publishing() -> None:
    doc = policy(CHANNEL, "--read-write")
    actions = {a for s in doc["Statement"] for a in s["Action"]}  # type: ignore[attr-defined]
    assert actions == {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject", "s3:GetBucketLocation"} | {
        "s3:ListBucketMultipartUploads",
        "s3:ListMultipartUploadParts",
        "s3:AbortMultipartUpload",
    }


def test_job_records_add_get_put_and_delete_on_their_prefix_only() -> None:
    doc = policy(CHANNEL, "--read-only", "--job-records", "s3://attachments/condafarm-jobs")
    records = [s for s in doc["Statement"] if s["Sid"] == "JobPackageRecords"]  # type: ignore[index]
    assert records == [
        {
            "Sid": "JobPackageRecords",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": ["arn:aws:s3:::attachments/condafarm-jobs/*"],
        }
    ]
    listing = [s for s in doc["Statement"] if s["Sid"] == "ListJobPackageRecords"]  # type: ignore[index]
    assert listing == [  # without it S3 answers 403, not 404, for a job's first (missing) record
        {
            "Sid": "ListJobPackageRecords",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": ["arn:aws:s3:::attachments"],
            "Condition": {"StringLike": {"s3:prefix": ["condafarm-jobs", "condafarm-jobs/*"]}},
        }
    ]


def test_role_name_prints_the_attach_command_on_stderr() -> None:
    result = run_cli("iam-policy", CHANNEL, "--read-only", "--role-name", "RenderQueueRole")
    json.loads(result.stdout)  # stdout stays a clean policy document
    assert f"aws iam put-role-policy --role-name RenderQueueRole --policy-name condafarm-{BUCKET}-read" in result.stderr


def test_folder_channels_have_no_policy(tmp_path: Path) -> None:
    result = run_cli("iam-policy", str(tmp_path), "--read-only")
    assert result.returncode == 2 and "s3://" in result.stderr


@pytest.fixture(scope="module")
def enforced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Endpoint, tuple[str, str], tuple[str, str]]]:
    """An IAM-enforcing S3 server whose `queue` user holds exactly the printed read-only policy."""
    read_only = json.dumps(policy(CHANNEL, "--read-only"))
    with MotoServer(unauthenticated=7) as server:
        s3 = server.endpoint
        s3.client().create_bucket(Bucket=BUCKET)
        admin = server.add_user("admin", allow("s3:*"))
        queue = server.add_user("queue", read_only)
        folder = tmp_path_factory.mktemp("policy-channel")
        render_packages(folder)
        shutil.rmtree(folder / ".staging")
        upload(s3, BUCKET, "Conda/Default", folder, admin)
        index_s3(s3, CHANNEL, admin)
        yield s3, queue, admin


def test_read_only_policy_creates_environments_and_cannot_publish(enforced, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    s3, queue, _ = enforced
    env = {**s3.env(), "AWS_ACCESS_KEY_ID": queue[0], "AWS_SECRET_ACCESS_KEY": queue[1]}
    args = ["env", "create", str(tmp_path / "env"), "--packages", "render-tool", "--channels", CHANNEL]
    proxy = S3Proxy(s3.port)  # counts what the environment's reads cost: no request may be refused
    try:
        created = run_cli(*args, "--cache-dir", str(tmp_path / "cache"), env={**env, "S3_ENDPOINT_URL": proxy.url})
        assert created.returncode == 0, created.stderr
        assert proxy.tally.count(status=403) == 0, proxy.tally.snapshot()["exchanges"]
        assert proxy.tally.count("GetObject", "repodata_shards.msgpack.zst", 200) >= 1  # read through the shards
    finally:
        proxy.stop()
    assert (tmp_path / "env" / "bin" / "render-tool").exists()

    package = make_package(tmp_path / "out", "newtool")
    refused = run_cli("publish", str(package), "--to", CHANNEL, env=env)
    # the first write of a command is the one that proves the store (its .condafarm/store.json)
    assert refused.returncode == 4, refused.stderr
    assert f"lack s3:PutObject on arn:aws:s3:::{BUCKET}/Conda/Default/.condafarm/" in refused.stderr
    denied = run_cli("index", CHANNEL, "--rebuild", env=env)
    assert denied.returncode == 4
    assert f"lack s3:PutObject on arn:aws:s3:::{BUCKET}/Conda/Default/" in denied.stderr
    with pytest.raises(Exception, match="AccessDenied"):
        s3.client(*queue).put_object(Bucket=BUCKET, Key="Conda/Default/noarch/evil-1.0-h0_0.conda", Body=b"x")
    with pytest.raises(Exception, match="AccessDenied"):  # nothing outside the channel prefix either
        s3.client(*queue).get_object(Bucket=BUCKET, Key="elsewhere.txt")


def test_unknown_credentials_are_a_readable_error(enforced, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    s3, _, _ = enforced
    env = {**s3.env(), "AWS_ACCESS_KEY_ID": "AKIAUNKNOWN0000000", "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20)}
    args = ["env", "create", str(tmp_path / "env"), "--packages", "render-tool", "--channels", CHANNEL]
    result = run_cli(*args, "--cache-dir", str(tmp_path / "cache"), env=env)
    assert result.returncode == 4, result.stderr
    # the HEAD that explains py-rattler's failure gets a bodiless 403; the store's code says the key is unknown
    assert result.stderr.startswith("condafarm: error: endpoint ")
    assert "rejected the AWS credentials (InvalidAccessKeyId)" in result.stderr
    assert result.stderr.count("\n") == 1 and env["AWS_SECRET_ACCESS_KEY"] not in result.stderr
    assert not (tmp_path / "env").exists()


def test_the_attach_command_names_the_file_the_policy_was_saved_to(tmp_path: Path) -> None:
    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent)) or "condafarm"
    saved = tmp_path / "read.json"
    args = [exe, "iam-policy", CHANNEL, "--read-only", "--role-name", "RenderQueueRole"]
    with saved.open("w") as out:
        result = subprocess.run(args, stdout=out, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    json.loads(saved.read_text())
    if sys.platform.startswith("linux") or sys.platform == "darwin":
        assert f"--policy-document file://{saved}" in result.stderr
    assert "policy.json" not in result.stderr
    piped = run_cli("iam-policy", CHANNEL, "--read-only", "--role-name", "RenderQueueRole")
    assert "save it to a file" in piped.stderr and "file://POLICY.json" in piped.stderr
