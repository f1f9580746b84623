"""Channels condafarm writes, read by an independent client: py-rattler fetches, solves and installs."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from support.installs import app_channel, assert_installed, install, rattler
from support.packages import make_package
from support.s3 import S3Endpoint, upload_dir

from condafarm import Channel, S3Options, index_channel, parse_channel
from condafarm.channel.publish import publish


@pytest.mark.slow
def test_rattler_installs_from_a_folder_channel(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    app_channel(root)
    index_channel(parse_channel(str(root)))
    prefix = tmp_path / "env"
    assert_installed(install(root.as_uri(), prefix, "farmtool"), prefix)
    exact = install(root.as_uri(), tmp_path / "env2", "farmtool ==1.1 h0_0")
    assert {r["name"]: r["build_number"] for r in exact}["farmtool"] == 0


@pytest.mark.slow
def test_rattler_installs_from_an_s3_channel(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    root = tmp_path / "channel"
    app_channel(root)
    upload_dir(s3, bucket, "Conda/Default", root)
    channel = parse_channel(f"s3://{bucket}/Conda/Default", S3Options(s3.url, "us-east-1", "path"))
    index_channel(channel)
    prefix = tmp_path / "env"
    assert_installed(install(channel.url, prefix, "farmtool", endpoint=s3.url), prefix)


# Fields both indexers write and that a solver or installer reads.
COMPARED = (
    "sha256",
    "md5",
    "size",
    "depends",
    "constrains",
    "build",
    "build_number",
    "subdir",
    "noarch",
    "name",
    "version",
    "license",
    "arch",
    "platform",
    "timestamp",
    "run_exports",
)


@pytest.mark.slow
def test_records_equal_py_rattler_index_fs(many_packages: Path, tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    shutil.copytree(many_packages, ours)
    shutil.copytree(many_packages, theirs)
    make_package(ours, "withexports", run_exports={"weak": ["withexports >=1"]})
    shutil.copy(ours / "noarch" / "withexports-1.0-h0_0.conda", theirs / "noarch")
    index_channel(parse_channel(str(ours)))
    rattler("index-fs", str(theirs))
    compared = 0
    for subdir in ("noarch", "linux-64", "win-64", "osx-arm64"):
        a = json.loads((ours / subdir / "repodata.json").read_text())
        b = json.loads((theirs / subdir / "repodata.json").read_text())
        assert a["info"]["subdir"] == b["info"]["subdir"] == subdir
        for table in ("packages", "packages.conda"):
            assert set(a[table]) == set(b[table])
            for filename, mine in a[table].items():
                peer = b[table][filename]
                both = [f for f in COMPARED if f in mine or f in peer]
                assert {f: mine.get(f) for f in both} == {f: peer.get(f) for f in both}, filename
                compared += 1
    assert compared == 321


def _publish_app(channel: Channel, staging: Path) -> None:
    app_channel(staging)
    publish(channel, sorted(staging.rglob("*.conda")) + sorted(staging.rglob("*.tar.bz2")))


@pytest.mark.slow
@pytest.mark.parametrize("where", ["folder", "s3"])
def test_rattler_installs_published_packages_by_latest_and_exact_build(
    where: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    endpoint = request.getfixturevalue("s3").url if where == "s3" else None
    channel = request.getfixturevalue("s3_channel") if where == "s3" else parse_channel(str(tmp_path / "channel"))
    _publish_app(channel, tmp_path / "staging")
    prefix = tmp_path / "env"
    assert_installed(install(channel.url, prefix, "farmtool", endpoint=endpoint), prefix)
    for build_number in (0, 1):
        exact = install(
            channel.url, tmp_path / f"env{build_number}", f"farmtool ==1.1 h0_{build_number}", endpoint=endpoint
        )
        assert {r["name"]: r["build_number"] for r in exact}["farmtool"] == build_number


@pytest.mark.slow
def test_rattler_finds_published_packages_through_shards_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pixi and rattler read CEP-16 shards before repodata.json; with repodata.json gone, shards must suffice,
    also for a package published into a subdir too large to compact at once (repodata.json does not hold it)."""
    root = tmp_path / "channel"
    _publish_app(parse_channel(str(root)), tmp_path / "staging")
    monkeypatch.setenv("CONDAFARM_COMPACT_BYTES", "1")
    publish(parse_channel(str(root)), [make_package(tmp_path / "later", "latecomer")])
    assert b"latecomer" not in (root / "noarch" / "repodata.json").read_bytes()
    for name in ("repodata.json", "repodata.json.zst"):
        (root / "noarch" / name).unlink()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        out = rattler("query-sharded", url, "noarch", "farmtool", "farmlib", "latecomer").stdout
    finally:
        server.shutdown()
    found = json.loads(out.strip().splitlines()[-1])
    assert found == [
        "farmlib=1.0=h0_0",
        "farmlib=2.0=h0_0",
        "farmtool=1.0=h0_0",
        "farmtool=1.1=h0_0",
        "farmtool=1.1=h0_1",
        "latecomer=1.0=h0_0",
    ]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass
