"""Cache-Control on what condafarm writes: changing objects revalidated on every use, package files and shards
immutable, channels written before corrected by `index`, and a client with an aged cache that still finds a
package published a moment before."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import run_cli
from support.environments import env_with
from support.packages import make_package
from support.proxy import S3Proxy
from support.render_channel import REQUEST, fill_render_channel
from support.s3 import S3Endpoint

from condafarm import S3Options, index_channel, parse_channel, publish
from condafarm.channel.commit.state import STATE_KEY
from condafarm.channel.page import write_page
from condafarm.storage import open_storage
from condafarm.storage.cache_control import IMMUTABLE, cache_control, is_immutable
from condafarm.storage.location import Channel

CLIENT = Path(__file__).parent / "support" / "rattler_client.py"


def _channel(s3: S3Endpoint, bucket: str) -> Channel:
    options = S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    return parse_channel(f"s3://{bucket}/t{secrets.token_hex(3)}/Conda/Default", options)


def _headers(s3: S3Endpoint, bucket: str) -> dict[str, str | None]:
    client = s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", ())]
    return {key: client.head_object(Bucket=bucket, Key=key).get("CacheControl") for key in keys}


def test_every_object_condafarm_writes_on_s3_carries_cache_control(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    channel = _channel(s3, bucket)
    publish(channel, [make_package(tmp_path, "tool", "1.0"), make_package(tmp_path, "lib", "2.0", subdir="linux-64")])
    index_channel(channel)
    write_page(open_storage(channel))
    headers = _headers(s3, bucket)
    assert any(key.endswith(".conda") for key in headers) and any("/shards/" in key for key in headers)
    assert any(key.endswith("repodata_shards.msgpack.zst") for key in headers)
    for key, header in headers.items():
        assert header == (IMMUTABLE if is_immutable(key) else "no-cache"), key


def test_cache_max_age_knob_and_its_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from condafarm.errors import UsageError

    monkeypatch.setenv("CONDAFARM_CACHE_MAX_AGE", "30")
    assert cache_control("noarch/repodata.json") == "max-age=30"
    assert cache_control("noarch/tool-1.0-h0_0.conda") == IMMUTABLE
    assert cache_control(f"noarch/shards/{'ab' * 32}.msgpack.zst") == IMMUTABLE
    for bad in ("nan", "inf", "-5", "1e3", "86401", "3.5", "²", "1²"):  # str.isdigit() takes superscripts
        monkeypatch.setenv("CONDAFARM_CACHE_MAX_AGE", bad)
        for key in ("noarch/repodata.json", "noarch/tool-1.0-h0_0.conda"):
            with pytest.raises(UsageError, match="CONDAFARM_CACHE_MAX_AGE"):
                cache_control(key)


def test_index_corrects_the_headers_of_a_channel_written_before(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    channel = _channel(s3, bucket)
    publish(channel, [make_package(tmp_path, "tool", "1.0")])
    index_channel(channel)
    client = s3.client()
    prefix = channel.prefix.rstrip("/")
    for key in _headers(s3, bucket):  # as an older condafarm left it: no header, a state without the rule
        client.copy_object(
            Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key}, MetadataDirective="REPLACE"
        )
    state_key = f"{prefix}/noarch/{STATE_KEY}"
    state = json.loads(client.get_object(Bucket=bucket, Key=state_key)["Body"].read())
    del state["cache_headers"]
    client.put_object(Bucket=bucket, Key=state_key, Body=json.dumps(state).encode())
    report = index_channel(channel)
    assert report.subdirs[0].headers_corrected == 4
    headers = _headers(s3, bucket)
    for name in ("repodata.json", "repodata.json.zst", "repodata_shards.msgpack.zst", "run_exports.json"):
        assert headers[f"{prefix}/noarch/{name}"] == "no-cache", name
    assert index_channel(channel).subdirs[0].headers_corrected == 0  # once only


def test_py_rattler_with_an_aged_cache_finds_a_package_published_a_moment_before(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    """py-rattler alone (as pixi reads a channel: its own S3 client, shards on)."""
    channel = _channel(s3, bucket)
    fill_render_channel(open_storage(channel), tmp_path / "build", 10)
    proxy = S3Proxy(s3.port, aged=3600)  # an hour old: a heuristic freshness would keep the copy for minutes
    try:
        env = {**s3.env(), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

        def install(prefix: str, spec: str) -> subprocess.CompletedProcess[str]:
            argv = [sys.executable, str(CLIENT), "install", channel.url, str(tmp_path / prefix), spec]
            argv += ["--endpoint", proxy.url, "--cache", str(tmp_path / "rattler-cache")]
            return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)

        first = install("a", "render-tool")
        assert first.returncode == 0, first.stderr
        publish(channel, [make_package(tmp_path / "new", "comp-tool", "3.0", depends=["render-lic"])])
        then = install("b", "comp-tool")
        assert then.returncode == 0, then.stderr
    finally:
        proxy.stop()


def test_condafarm_env_with_an_aged_cache_finds_a_package_published_a_moment_before(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    channel = _channel(s3, bucket)
    fill_render_channel(open_storage(channel), tmp_path / "build", 10)
    # Every object looks an hour old to the client, so a heuristic freshness would keep its copy for minutes.
    proxy = S3Proxy(s3.port, aged=3600)
    try:
        env = env_with(
            tmp_path / "cache",
            **{
                **S3Endpoint(proxy.url, proxy.port).env(),
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
            },
        )
        first = run_cli(
            "env", "create", str(tmp_path / "a"), "--packages", *REQUEST, "--channels", channel.url, env=env
        )
        assert first.returncode == 0, first.stderr
        publish(channel, [make_package(tmp_path / "new", "comp-tool", "3.0", depends=["render-lic"])])
        then = run_cli(
            "env", "create", str(tmp_path / "b"), "--packages", "comp-tool", "--channels", channel.url, env=env
        )
        assert then.returncode == 0, then.stderr
    finally:
        proxy.stop()


def test_a_bad_cache_max_age_stops_publish_with_one_line_before_any_write(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    channel = _channel(s3, bucket)
    env = {**s3.env(), "CONDAFARM_CACHE_MAX_AGE": "nan"}
    result = run_cli("publish", str(make_package(tmp_path, "tool")), "--to", channel.url, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "CONDAFARM_CACHE_MAX_AGE='nan'" in result.stderr
    assert _headers(s3, bucket) == {}
