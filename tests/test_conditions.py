"""conditions: a store that ignores If-None-Match/If-Match is found by a probe and refused before anything is
written, unless the user promises a single writer; check reports it; a store that honours them costs no request
after the first probe."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import run_cli
from support.packages import make_package
from support.proxy import S3Proxy
from support.s3 import S3Endpoint
from support.seaweedfs import ignoring_conditions

from condafarm import Channel, S3Options, check_channel, parse_channel, publish
from condafarm.storage import open_storage
from condafarm.storage.conditions import RECORD_KEY, UnsafeStore, probe


@pytest.fixture
def careless(s3: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Endpoint]:
    """moto behind a proxy that drops the conditional headers, as some emulators and old gateways do."""
    monkeypatch.setenv("CONDAFARM_CACHE_DIR", str(tmp_path / "cache"))
    with ignoring_conditions(s3.port) as endpoint:
        yield endpoint


def _url(bucket: str) -> str:
    return f"s3://{bucket}/Conda/Default"


def test_the_probe_finds_both_ignored_conditions_and_an_honest_store(
    careless: S3Endpoint, s3: S3Endpoint, bucket: str
) -> None:
    options = S3Options(endpoint_url=careless.url, region="us-east-1", addressing_style="path")
    assert probe(open_storage(parse_channel(_url(bucket), options))).ignored == ["If-None-Match", "If-Match"]
    honest = S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    proof = probe(open_storage(parse_channel(_url(bucket), honest)))
    assert proof.ignored == [] and proof.refused_by.startswith("Werkzeug/")  # moto, refusing


def test_publish_to_a_store_that_ignores_conditions_is_refused_before_any_package_is_written(
    careless: S3Endpoint, s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    package = make_package(tmp_path, "tool", "1.0")
    env = {**s3.env(), "S3_ENDPOINT_URL": careless.url, "CONDAFARM_CACHE_DIR": str(tmp_path / "cache")}
    result = run_cli("publish", str(package), "--to", _url(bucket), env=env)
    assert result.returncode == 3, result.stderr
    assert careless.url in result.stderr and "ignores If-None-Match and If-Match" in result.stderr
    assert "--single-writer" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [f"Conda/Default/{RECORD_KEY}"]  # only the probe's record: no package, no repodata
    # The hint works: a promised single writer may publish, and the channel is valid.
    again = run_cli("publish", str(package), "--to", _url(bucket), "--single-writer", env=env)
    assert again.returncode == 0, again.stderr
    check = run_cli("check", _url(bucket), env=env)
    assert check.returncode == 7 and "ignores If-None-Match" in check.stdout + check.stderr
    honest = parse_channel(_url(bucket), S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path"))
    assert [p.filename for p in (check_channel(honest).problems and []) or []] == []
    assert "tool-1.0-h0_0.conda" in {
        o["Key"].rsplit("/", 1)[-1] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]
    }


def test_an_honest_store_is_probed_once_per_host(s3_channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CONDAFARM_CACHE_DIR", str(tmp_path / "cache"))
    first = publish(s3_channel, [make_package(tmp_path / "a", "first")])
    second = publish(s3_channel, [make_package(tmp_path / "b", "second")])
    third = publish(s3_channel, [make_package(tmp_path / "c", "third")])
    # the probe's object, and the intent, its ready mark and the commit lease
    assert first.requests["DeleteObject"] == 4
    assert {**second.requests, "bytes_read": 0} == {**third.requests, "bytes_read": 0}  # no probe again
    # see docs/publish.md: among them the one write the proven store must refuse (it is still the store proven)
    assert sum(v for k, v in second.requests.items() if k != "bytes_read") == 23


def test_the_single_writer_promise_is_given_per_command_never_remembered(
    careless: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    options = S3Options(endpoint_url=careless.url, region="us-east-1", addressing_style="path", single_writer=True)
    storage = open_storage(parse_channel(_url(bucket), options))
    publish(storage, [make_package(tmp_path, "tool", "1.0")])
    with pytest.raises(UnsafeStore):
        publish(
            open_storage(parse_channel(_url(bucket), S3Options(endpoint_url=careless.url, addressing_style="path"))),
            [make_package(tmp_path / "b", "other", "1.0")],
        )


def test_a_server_that_ignores_conditions_at_a_proven_endpoint_is_proven_again_and_refused(
    s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    """The gateway in front of the bucket is replaced by one that ignores conditional writes, at the same
    address, over the same objects: what this host remembers does not vouch for it."""
    gateway = S3Proxy(s3.port)
    env = {**s3.env(), "S3_ENDPOINT_URL": gateway.url, "CONDAFARM_CACHE_DIR": str(tmp_path / "cache")}
    try:
        proven = run_cli("publish", str(make_package(tmp_path / "a", "first")), "--to", _url(bucket), env=env)
        assert proven.returncode == 0, proven.stderr
    finally:
        gateway.stop()
    with ignoring_conditions(s3.port, port=gateway.port) as careless:
        assert careless.url == gateway.url
        result = run_cli("publish", str(make_package(tmp_path / "b", "second")), "--to", _url(bucket), env=env)
    assert result.returncode == 3, result.stderr
    assert "ignores If-None-Match and If-Match" in result.stderr, result.stderr
    keys = {o["Key"].rsplit("/", 1)[-1] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert "first-1.0-h0_0.conda" in keys and "second-1.0-h0_0.conda" not in keys


def test_a_proven_store_that_names_itself_differently_is_proven_again(
    s3_channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgraded or replaced server software (another `Server` header) is probed again, then trusted."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CONDAFARM_CACHE_DIR", str(cache))
    publish(s3_channel, [make_package(tmp_path / "a", "first")])
    known = json.loads((cache / "stores.json").read_text())
    (entry,) = known.values()
    assert entry["server"].startswith("Werkzeug/")  # moto's, in a refusal
    entry["server"] = "Werkzeug/0.1 Python/2.7"
    (cache / "stores.json").write_text(json.dumps(known))
    again = publish(s3_channel, [make_package(tmp_path / "b", "second")])
    assert again.requests["DeleteObject"] == 4  # the probe's object again, beside the publish's three
    assert json.loads((cache / "stores.json").read_text()) != known
    trusted = publish(s3_channel, [make_package(tmp_path / "c", "third")])
    assert trusted.requests["DeleteObject"] == 3
