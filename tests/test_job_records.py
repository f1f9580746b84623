"""Job-consistent environments: every session of a job installs the packages its first session resolved, even
after a newer build is published; a new job gets the newer build; concurrent first sessions agree; a render queue
role that may only read the channel keeps records where the printed policy lets it; a record it cannot write
stops the session instead of solving anew."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import run_cli
from support.environments import env_with, folder_channel, index_s3, render_packages, upload
from support.faults import Request
from support.moto import MotoServer, allow
from support.openjd import JOB, run_render_job
from support.packages import make_package
from support.proxy import S3Proxy, fault_proxy
from support.s3 import S3Endpoint, new_bucket

from condafarm.farm.iam import iam_policy
from condafarm.storage.location import S3Options, parse_channel


def _channel(s3: S3Endpoint, bucket: str, tmp_path: Path, keys: tuple[str, str] = ("testing", "testing")) -> str:
    prefix = f"t{secrets.token_hex(4)}/Conda/Default"
    _publish_build(s3, bucket, prefix, tmp_path / "b0", 0, keys)
    return f"s3://{bucket}/{prefix}"


def _publish_build(
    s3: S3Endpoint, bucket: str, prefix: str, folder: Path, number: int, keys: tuple[str, str] = ("testing", "testing")
) -> None:
    render_packages(folder, build_number=number)
    shutil.rmtree(folder / ".staging")
    upload(s3, bucket, prefix, folder, keys)
    index_s3(s3, f"s3://{bucket}/{prefix}", keys)


def _env(s3: S3Endpoint, tmp_path: Path, job: str, **extra: str) -> dict[str, str]:
    return {
        **s3.env(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "CONDAFARM_ENV_CACHE": str(tmp_path / f"cache-{job}-{secrets.token_hex(2)}"),  # a fresh host each time
        "CONDAFARM_CACHE_DIR": str(tmp_path / "probe-cache"),
        "DEADLINE_JOB_ID": job,
        **extra,
    }


@pytest.mark.slow
def test_every_session_of_a_job_gets_the_packages_of_its_first_session(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    channel = _channel(s3, bucket, tmp_path)
    records = f"s3://{bucket}/jobs"
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(JOB))
    params = ["CondaPackages=render-tool", f"CondaChannels={channel}", f"CondaJobRecords={records}"]
    params.append("CondaEnvUpdateAfterMinutes=0")  # without the record, every session would solve again

    first = run_render_job(job, _env(s3, tmp_path, "job-1"), *params)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "render-tool 1.0 build 0" in first.stdout
    assert "recorded for the later sessions of job job-1" in first.stdout
    _publish_build(s3, bucket, channel.removeprefix(f"s3://{bucket}/"), tmp_path / "b1", 1)

    later = run_render_job(job, _env(s3, tmp_path, "job-1"), *params)
    assert later.returncode == 0, later.stdout[-3000:] + later.stderr[-3000:]
    assert "packages from the job's record" in later.stdout and "render-tool 1.0 build 0" in later.stdout
    assert "solving" not in later.stdout
    newer = run_render_job(job, _env(s3, tmp_path, "job-2"), *params)
    assert newer.returncode == 0 and "render-tool 1.0 build 1" in newer.stdout
    off = run_render_job(job, _env(s3, tmp_path, "job-1"), *params, "CondaJobConsistency=DISABLED")
    assert off.returncode == 0 and "render-tool 1.0 build 1" in off.stdout  # today's behaviour, per job


@pytest.mark.slow
def test_concurrent_first_sessions_of_a_job_agree_on_one_list(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    """Session A solves build 0 and is held (by the proxy) just before it records its list; build 1 is published
    and session B solves and records build 1 meanwhile. A's conditional write must then lose, and A install B's
    list: without the conditional write, A would overwrite B's record and the sessions disagree."""
    channel = _channel(s3, bucket, tmp_path)
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(JOB))
    params = ["CondaPackages=render-tool", f"CondaChannels={channel}", f"CondaJobRecords=s3://{bucket}/jobs"]
    a_holds, a_goes = threading.Event(), threading.Event()

    def hold_the_first_record_write(request: Request) -> None:
        if request.op == "PutObject" and request.key.startswith("jobs/job-c/") and not a_holds.is_set():
            a_holds.set()
            a_goes.wait(timeout=600)

    def session(proxy: S3Proxy, name: str) -> str:
        slow = {"CONDAFARM_READ_TIMEOUT": "900", "CONDAFARM_DEADLINE": "900"}  # A waits for B at its write
        env = _env(S3Endpoint(proxy.url, proxy.port), tmp_path, "job-c", **slow)
        run = run_render_job(job, {**env, "CONDAFARM_CACHE_DIR": str(tmp_path / f"probe-{name}")}, *params)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        return run.stdout

    with fault_proxy(s3.port, on_request=hold_the_first_record_write) as proxy, ThreadPoolExecutor(1) as pool:
        first = pool.submit(session, proxy, "a")
        assert a_holds.wait(timeout=300), "session A never came to write its record"
        _publish_build(s3, bucket, channel.removeprefix(f"s3://{bucket}/"), tmp_path / "b1", 1)
        later = session(proxy, "b")
        a_goes.set()
        earlier = first.result()
    assert "recorded for the later sessions of job job-c" in later and "render-tool 1.0 build 1" in later
    assert "recorded its list first" in earlier, earlier[-3000:]
    assert "render-tool 1.0 build 1" in earlier and "render-tool 1.0 build 0" not in earlier.split("first at")[-1]
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket, Prefix="jobs/job-c/").get("Contents", [])]
    assert len(keys) == 1 and keys[0].endswith(".lock.txt")


@pytest.mark.slow
def test_a_read_only_render_queue_keeps_job_records_where_its_policy_allows(tmp_path: Path) -> None:
    bucket = "render-farm"
    channel, records = f"s3://{bucket}/Conda/Default", f"s3://{bucket}/JobAttachments/condafarm-jobs"
    policy = iam_policy(parse_channel(channel), job_records=parse_channel(records))
    channel_only = iam_policy(parse_channel(channel))
    with MotoServer(unauthenticated=10) as server:
        s3 = server.endpoint
        s3.client().create_bucket(Bucket=bucket)
        admin = server.add_user("admin", allow("s3:*"))
        queue = server.add_user("queue", json.dumps(policy))
        stranger = server.add_user("stranger", json.dumps(channel_only))
        _publish_build(s3, bucket, "Conda/Default", tmp_path / "b0", 0, admin)
        args = ["env", "enter", "--packages", "render-tool", "--channels", channel, "--job-records", records]

        def as_user(keys: tuple[str, str], job: str) -> dict[str, str]:
            return {**_env(s3, tmp_path, job), "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]}

        entered = run_cli(*args, env=as_user(queue, "job-r"), timeout=300)
        assert entered.returncode == 0, entered.stderr
        assert "recorded for the later sessions of job job-r" in entered.stdout
        refused = run_cli("publish", str(tmp_path), "--to", channel, env=as_user(queue, "job-r"))
        assert refused.returncode != 0  # still read-only on the channel
        blocked = run_cli(*args, env=as_user(stranger, "job-s"), timeout=300)
        assert blocked.returncode == 4, blocked.stderr
        assert "cannot use the job's package record" in blocked.stderr and "rather than solve anew" in blocked.stderr


@pytest.mark.slow
def test_prune_never_lets_go_of_packages_a_job_record_names(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    from condafarm import prune_channel

    channel = _channel(s3, bucket, tmp_path)
    records = f"s3://{bucket}/jobs"
    args = ["env", "enter", "--packages", "render-tool", "--channels", channel, "--job-records", records]
    assert run_cli(*args, env=_env(s3, tmp_path, "job-p"), timeout=300).returncode == 0
    prefix = channel.removeprefix(f"s3://{bucket}/")
    for number in (1, 2):
        _publish_build(s3, bucket, prefix, tmp_path / f"b{number}", number)
    options = S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    report = prune_channel(
        parse_channel(channel, options), keep=1, spec="render-tool", protect_lockfiles=[records], yes=True
    )
    assert [item.filename for item in report.protected] == ["render-tool-1.0-h0_0.conda"]
    assert [item.filename for item in report.yanked] == ["render-tool-1.0-h0_1.conda"]
    assert report.lockfiles and report.lockfiles[0].startswith(f"s3://{bucket}/jobs/job-p/")


def test_a_first_session_that_loses_the_race_installs_the_winners_list(tmp_path: Path) -> None:
    """Two first sessions solved different lists (a publish landed between their solves): the one whose
    conditional write lost installs the list the other recorded, so the job still has one set of packages."""
    from condafarm.env.install.create import Manifest
    from condafarm.env.job.job_record import JobRecords, enter_for_job
    from condafarm.env.job.session import Entered
    from condafarm.env.request.lockfile import LockedPackage, explicit_lockfile, read_explicit_lockfile
    from condafarm.env.request.spec import EnvSpec

    spec = EnvSpec(packages=("tool",), channels=("file:///channel",), platform="linux-64")
    records = JobRecords(parse_channel(str(tmp_path / "records")), "job-race")
    mine = LockedPackage("file:///channel/noarch/tool-1.0-h0_2.conda", "2" * 64)
    theirs = LockedPackage("file:///channel/noarch/tool-1.0-h0_1.conda", "1" * 64)
    entered: list[tuple[LockedPackage, ...]] = []
    said: list[str] = []

    def enter(request: EnvSpec | None, lockfile: Path | None, job_record: bool = False) -> Entered:
        if lockfile is None:  # this session solves; meanwhile the other session records its own list
            (tmp_path / "records" / "job-race").mkdir(parents=True, exist_ok=True)
            (tmp_path / "records" / records.key(spec)).write_text(explicit_lockfile([theirs], "linux-64"))
            locked: tuple[LockedPackage, ...] = (mine,)
        else:
            locked = tuple(read_explicit_lockfile(lockfile.read_text())[1])
        entered.append(locked)
        manifest = Manifest(("tool",), ("file:///channel",), "strict", "linux-64", locked)
        return Entered(tmp_path / "env", "created", manifest, {}, None)

    result = enter_for_job(spec, records, enter, said.append)
    assert entered == [(mine,), (theirs,)]
    assert result.manifest.locked == (theirs,)
    assert any("recorded its list first" in line for line in said)


def _session(channels: str, records: str, cache: Path, job: str, **env: str):  # type: ignore[no-untyped-def]
    args = ["env", "enter", "--packages", "render-tool", "--channels", channels, "--job-records", records]
    return run_cli(*args, env=env_with(cache, DEADLINE_JOB_ID=job, **env), timeout=300)


def _line(package: Path, url: str | None = None) -> str:
    """An explicit lockfile line for `package` (named by `url`, default its file URL)."""
    return f"{url or package.as_uri()}#sha256:{hashlib.sha256(package.read_bytes()).hexdigest()}"


def _evil_channel(root: Path) -> Path:
    """An indexed folder channel whose render-tool carries what an attacker chose."""
    from condafarm import index_channel, parse_channel

    make_package(root, "render-tool", "1.0", script=True, depends=["render-lic >=2"], payload="EVIL")
    shutil.rmtree(root / ".staging")
    index_channel(parse_channel(str(root)))
    return root


def _serve(folder: Path) -> tuple[str, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def _assert_refused(result: Any, record: str, cache: Path) -> None:
    """Refused in one line naming the record, exit 9, and nothing installed on the host."""
    assert result.returncode == 9, result.stdout[-2000:] + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("condafarm: error: ")
    assert record in result.stderr and "openjd_env" not in result.stdout
    assert not [p for p in (cache / "envs").glob("*/*") if p.name.isdigit()]


TOOL, LIC = "noarch/render-tool-1.0-h0_0.conda", "noarch/render-lic-2.0-h0_0.conda"


def _attack(how: str, channel: Path, evil: Path, http_root: str) -> list[str]:
    """The package lines of a rewritten record."""
    tool, lic = channel / TOOL, channel / LIC
    if how == "other-folder":
        return [_line(evil / TOOL), _line(lic)]
    if how == "dot-dot":
        return [_line(evil / TOOL, f"{channel.as_uri()}/../{evil.name}/{TOOL}"), _line(lic)]
    if how == "http":
        return [_line(evil / TOOL, f"{http_root}/{TOOL}"), _line(lic)]
    if how == "cut-request":
        return [_line(lic)]
    if how == "cut-closure":
        return [_line(tool)]
    if how == "unrequested":
        return [_line(tool), _line(lic), _line(channel / "noarch" / "render-extra-1.0-h0_0.conda")]
    if how == "win-64":
        win = channel / "win-64" / "render-tool-1.0-h0_0.conda"
        return [_line(win), _line(lic)]
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["other-folder", "dot-dot", "http", "cut-request", "cut-closure", "unrequested", "win-64"]
)
def test_a_rewritten_job_record_installs_nothing_its_request_and_channels_do_not_allow(
    tmp_path: Path, how: str
) -> None:
    """Any job on the queue can write the records location: a record naming files outside the job's channels,
    a record cut short, one adding a package the request does not need (its activation scripts would run), or
    one holding another platform's package is refused, and nothing is installed."""
    from condafarm import index_channel, parse_channel

    channel = folder_channel(tmp_path / "channel")
    make_package(channel, "render-tool", "1.0", subdir="win-64", depends=["render-lic >=2"])
    make_package(channel, "render-extra", "1.0", files={"etc/conda/env_vars.d/x.json": '{"RENDER_LIC_SERVER": "evil"}'})
    shutil.rmtree(channel / ".staging")
    index_channel(parse_channel(str(channel)))
    evil = _evil_channel(tmp_path / "other")
    records = tmp_path / "records"
    first = _session(str(channel), str(records), tmp_path / "cache-1", "job-1")
    assert first.returncode == 0, first.stderr
    (record,) = (records / "job-1").glob("*.lock.txt")
    http_root, server = _serve(evil)
    try:
        lines = _attack(how, channel, evil, http_root)
        record.write_text("\n".join(["# platform: linux-64", "@EXPLICIT", *lines]) + "\n")
        later = _session(str(channel), str(records), tmp_path / "cache-2", "job-1")
    finally:
        server.shutdown()
    _assert_refused(later, record.as_uri(), tmp_path / "cache-2")


@pytest.mark.posix("plants a symlink and a fifo")
@pytest.mark.parametrize("planted", ["link-to-a-secret", "fifo"])
def test_a_record_planted_as_a_link_out_of_the_records_folder_or_a_fifo_is_not_read(
    tmp_path: Path, planted: str
) -> None:
    """Another job on the queue replaces a record with a symlink to a file of the host's (its first line would be
    quoted in the refusal, in a log that job may read) or a fifo (reading it would wait for good)."""
    channel, records = folder_channel(tmp_path / "channel"), tmp_path / "records"
    first = _session(str(channel), str(records), tmp_path / "cache-1", "job-1")
    assert first.returncode == 0, first.stderr
    (record,) = (records / "job-1").glob("*.lock.txt")
    record.unlink()
    if planted == "fifo":
        os.mkfifo(record)
    else:
        secret = tmp_path / "home" / ".token"
        secret.parent.mkdir()
        secret.write_text("TOKEN-abc123\n")
        record.symlink_to(secret)
    later = _session(str(channel), str(records), tmp_path / "cache-2", "job-1", CONDAFARM_DEADLINE="20")
    assert later.returncode == 4, later.stdout[-2000:] + later.stderr
    assert "TOKEN" not in later.stdout + later.stderr and "condafarm does not read it" in later.stderr
    assert not [p for p in (tmp_path / "cache-2" / "envs").glob("*/*") if p.name.isdigit()]


def test_a_job_record_naming_another_bucket_installs_nothing(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    channel = _channel(s3, bucket, tmp_path)
    other_bucket = new_bucket(s3.client(), "other")
    evil = _evil_channel(tmp_path / "evil")
    upload(s3, other_bucket, "Conda/Default", evil)
    index_s3(s3, f"s3://{other_bucket}/Conda/Default")
    records = f"s3://{bucket}/jobs"
    first = _session(channel, records, tmp_path / "cache-1", "job-b", **s3.env())
    assert first.returncode == 0, first.stderr
    (key,) = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket, Prefix="jobs/job-b/")["Contents"]]
    text = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    lic = next(line for line in text.splitlines() if "render-lic" in line)
    tool = _line(evil / TOOL, f"s3://{other_bucket}/Conda/Default/{TOOL}")
    s3.client().put_object(Bucket=bucket, Key=key, Body=f"@EXPLICIT\n{tool}\n{lic}\n".encode())
    later = _session(channel, records, tmp_path / "cache-2", "job-b", **s3.env())
    _assert_refused(later, f"s3://{bucket}/{key}", tmp_path / "cache-2")


def test_a_record_copied_to_another_job_is_checked_even_where_its_environment_is_cached(tmp_path: Path) -> None:
    """A host caches the environment a record made; the same record under another job whose channels do not
    hold its files is checked anew, not served from that cache."""
    channel, other = folder_channel(tmp_path / "channel"), folder_channel(tmp_path / "other")
    records, cache = tmp_path / "records", tmp_path / "cache"
    assert _session(str(channel), str(records), cache, "job-1").returncode == 0
    assert _session(str(channel), str(records), cache, "job-1").returncode == 0  # the record's environment, cached
    assert _session(str(other), str(records), tmp_path / "cache-other", "job-2").returncode == 0
    (mine,), (theirs,) = (records / "job-1").glob("*.lock.txt"), (records / "job-2").glob("*.lock.txt")
    shutil.copyfile(mine, theirs)
    copied = _session(str(other), str(records), cache, "job-2")
    assert copied.returncode == 9, copied.stdout[-2000:] + copied.stderr
    assert "is not in the job's channels" in copied.stderr


@pytest.mark.parametrize("how", ["kept", "other-prefix", "dot-dot"])
def test_a_record_is_checked_against_a_channel_named_through_condarc(
    s3: S3Endpoint, bucket: str, tmp_path: Path, how: str
) -> None:
    """`--channels deadline-cloud` resolves through the host's condarc to an S3 channel: the record the first
    session wrote installs; one rewritten to another prefix of the same bucket does not."""
    _publish_build(s3, bucket, "Conda/deadline-cloud", tmp_path / "b0", 0)
    evil = _evil_channel(tmp_path / "evil")
    upload(s3, bucket, "Conda/evil", evil)
    index_s3(s3, f"s3://{bucket}/Conda/evil")
    condarc = tmp_path / "condarc"
    condarc.write_text(yaml.safe_dump({"custom_channels": {"deadline-cloud": f"s3://{bucket}/Conda"}}))
    env = {**s3.env(), "CONDA_RESTRICT_RC_SEARCH_PATH": "1", "CONDARC": str(condarc)}
    records = f"s3://{bucket}/jobs"
    first = _session("deadline-cloud", records, tmp_path / "cache-1", "job-n", **env)
    assert first.returncode == 0, first.stderr
    (key,) = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket, Prefix="jobs/job-n/")["Contents"]]
    if how != "kept":
        text = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        lic = next(line for line in text.splitlines() if "render-lic" in line)
        place = "Conda/evil" if how == "other-prefix" else "Conda/deadline-cloud/../evil"
        tool = _line(evil / TOOL, f"s3://{bucket}/{place}/{TOOL}")
        s3.client().put_object(Bucket=bucket, Key=key, Body=f"@EXPLICIT\n{tool}\n{lic}\n".encode())
    later = _session("deadline-cloud", records, tmp_path / "cache-2", "job-n", **env)
    if how == "kept":
        assert later.returncode == 0, later.stderr
        assert "packages from the job's record" in later.stdout and "solving" not in later.stdout
    else:
        _assert_refused(later, f"s3://{bucket}/{key}", tmp_path / "cache-2")


def test_a_record_padded_past_its_size_limit_is_refused_after_reading_the_limit(tmp_path: Path) -> None:
    """Every render host of a job reads its record: one grown to gigabytes by another job must not be downloaded
    whole by each. Comment lines keep the padded record valid, so only its size refuses it."""
    from condafarm.env.job.job_record import MAX_RECORD_BYTES

    channel, records = folder_channel(tmp_path / "channel"), tmp_path / "records"
    first = _session(str(channel), str(records), tmp_path / "cache-1", "job-1")
    assert first.returncode == 0, first.stderr
    (record,) = (records / "job-1").glob("*.lock.txt")
    with record.open("a", encoding="utf-8") as f:
        f.write(("# " + "x" * 98 + "\n") * (MAX_RECORD_BYTES // 100 + 1))
    later = _session(str(channel), str(records), tmp_path / "cache-2", "job-1")
    _assert_refused(later, record.as_uri(), tmp_path / "cache-2")
    assert "larger than 8 MiB" in later.stderr
