"""What a render host reads from an S3 channel, counted by a proxy: CEP-16 shards (the shard indexes and the
shards of the job's closure) instead of whole `repodata.json` files, only what changed after a publish, nothing
for a session whose environment is already on the host, and never a request the read-only role is refused."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import run_cli
from support.environments import env_with
from support.faults import Fault, Faults
from support.packages import make_package
from support.proxy import S3Proxy
from support.render_channel import REQUEST, Floor, fill_render_channel, floor, tallied
from support.s3 import IamEndpoint, S3Endpoint

#: Synthetic records per subdir: enough that reading a whole `repodata.json` costs many times the floor.
FILLER = 600


@pytest.fixture
def proxy(s3: S3Endpoint) -> Iterator[S3Proxy]:
    """A counting proxy in front of the session's S3 endpoint."""
    proxy = S3Proxy(s3.port)
    try:
        yield proxy
    finally:
        proxy.stop()


def _channel(s3: S3Endpoint, bucket: str, tmp_path: Path, filler: int = FILLER) -> tuple[str, str]:
    from condafarm import S3Options, parse_channel
    from condafarm.storage import open_storage

    prefix = f"t{secrets.token_hex(4)}/Conda/Default"
    url = f"s3://{bucket}/{prefix}"
    options = S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
    fill_render_channel(open_storage(parse_channel(url, options)), tmp_path / "build", filler)
    return url, prefix


def _env(proxy: S3Proxy, cache: Path, keys: tuple[str, str] = ("testing", "testing")) -> dict[str, str]:
    endpoint = S3Endpoint(proxy.url, proxy.port).env()
    return env_with(cache, **{**endpoint, "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]})


def _counted(proxy: S3Proxy, *args: str, env: dict[str, str]) -> dict[str, Any]:
    proxy.tally.reset()
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    return proxy.tally.snapshot()


def _in_a_later_second() -> None:
    """moto's Last-Modified counts whole seconds and it judges If-Modified-Since before If-None-Match: a file
    rewritten within the second of the cached copy is answered 304 (S3 judges the ETag). The counting tests
    write in a later second; `test_a_304_for_a_changed_file_is_fetched_anew` covers the other case."""
    time.sleep(1.05 - time.time() % 1)


def _at_floor(moved: dict[str, Any], least: Floor) -> None:
    """What a cold host moved: the floor's requests, at most 1.25x its bytes (the issue's goal)."""
    assert moved["requests"] == least.requests, tallied(moved)
    assert moved["bytes_received"] <= 1.25 * least.bytes, tallied(moved)


def test_cold_host_reads_shard_indexes_closure_shards_and_packages_only(
    s3: S3Endpoint, bucket: str, proxy: S3Proxy, tmp_path: Path
) -> None:
    url, prefix = _channel(s3, bucket, tmp_path)
    least = floor(s3.client(), bucket, prefix)
    env = _env(proxy, tmp_path / "cache")
    moved = _counted(proxy, "env", "create", str(tmp_path / "e"), "--packages", *REQUEST, "--channels", url, env=env)
    _at_floor(moved, least)
    assert not any("repodata.json" in exchange for exchange in moved["exchanges"]), tallied(moved)


def test_warm_host_after_an_unrelated_publish_fetches_the_index_and_changed_shards(
    s3: S3Endpoint, bucket: str, proxy: S3Proxy, tmp_path: Path
) -> None:
    from condafarm import S3Options, parse_channel, publish

    url, prefix = _channel(s3, bucket, tmp_path)
    env = _env(proxy, tmp_path / "cache")
    enter = ("env", "enter", "--packages", *REQUEST, "--channels", url, "--update-after-minutes", "0")
    _counted(proxy, *enter, env=env)
    channel = parse_channel(url, S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path"))
    _in_a_later_second()
    publish(channel, [make_package(tmp_path / "more", "comp-tool", "3.0", subdir="linux-64")])
    moved = _counted(proxy, *enter, env=env)
    assert moved["exchanges"] == {
        f"GetObject {prefix}/linux-64/repodata_shards.msgpack.zst 200": 1,
        f"GetObject {prefix}/noarch/repodata_shards.msgpack.zst 304": 1,
    }, tallied(moved)
    assert moved["bytes_received"] < 4096, tallied(moved)
    # A newer build of a name the job needs: its shard, and the new package, besides the index.
    _in_a_later_second()
    publish(channel, [make_package(tmp_path / "more", "render-lic", "2.1")])
    moved = _counted(proxy, *enter, env=env)
    assert moved["exchanges"] == {
        f"GetObject {prefix}/linux-64/repodata_shards.msgpack.zst 304": 1,
        f"GetObject {prefix}/noarch/repodata_shards.msgpack.zst 200": 1,
        f"GetObject {prefix}/noarch/shards/*.msgpack.zst 200": 1,
        f"GetObject {prefix}/noarch/*.conda 200": 1,
    }, tallied(moved)


def test_a_304_for_a_changed_file_is_fetched_anew(s3: S3Endpoint, bucket: str, proxy: S3Proxy, tmp_path: Path) -> None:
    """A store that answers a revalidation with 304 and another ETag (moto, for a file rewritten within the
    cached copy's second): py-rattler refuses the answer; condafarm fetches the metadata anew, once."""
    from condafarm import S3Options, parse_channel, publish

    url, prefix = _channel(s3, bucket, tmp_path)
    env = _env(proxy, tmp_path / "cache")
    enter = ("env", "enter", "--packages", *REQUEST, "--channels", url, "--update-after-minutes", "0")
    _counted(proxy, *enter, env=env)
    channel = parse_channel(url, S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path"))
    _in_a_later_second()
    publish(channel, [make_package(tmp_path / "more", "render-lic", "2.1")])
    proxy.faults = Faults(Fault("a shard index GET", "not-modified"))
    moved = _counted(proxy, *enter, env=env)
    assert [hit.action for hit in proxy.hits] == ["not-modified"]
    exchanges = moved["exchanges"]
    for subdir in ("linux-64", "noarch"):  # each shard index read whole by the fresh fetch
        assert exchanges.get(f"GetObject {prefix}/{subdir}/repodata_shards.msgpack.zst 200", 0) >= 1, tallied(moved)
    assert exchanges[f"GetObject {prefix}/noarch/*.conda 200"] == 1, tallied(moved)  # the new render-lic


def test_lockfile_session_reads_only_the_locked_names_shards_and_nothing_once_on_the_host(
    s3: S3Endpoint, bucket: str, proxy: S3Proxy, tmp_path: Path
) -> None:
    url, prefix = _channel(s3, bucket, tmp_path)
    session = tmp_path / "session"
    session.mkdir()
    solved = _env(proxy, tmp_path / "solver-cache")
    _counted(
        proxy, "env", "enter", "--packages", *REQUEST, "--channels", url, "--session-dir", str(session), env=solved
    )
    lockfile = str(session / "condafarm-env.lock.txt")
    env = _env(proxy, tmp_path / "cache")
    first = _counted(proxy, "env", "enter", "--lockfile", lockfile, env=env)
    metadata = {k: n for k, n in first["exchanges"].items() if not k.split()[1].endswith(".conda")}
    assert metadata == {
        f"GetObject {prefix}/noarch/repodata_shards.msgpack.zst 200": 1,
        f"GetObject {prefix}/noarch/shards/*.msgpack.zst 200": 2,
    }, tallied(first)
    assert _counted(proxy, "env", "enter", "--lockfile", lockfile, env=env)["requests"] == 0


def test_read_only_role_is_never_refused_a_request_with_or_without_shards(iam_s3: IamEndpoint, tmp_path: Path) -> None:
    from condafarm import S3Options, parse_channel
    from condafarm.storage import open_storage

    proxy = S3Proxy(iam_s3.s3.port)
    try:
        prefix = f"t{secrets.token_hex(4)}/Conda/Default"
        url = f"s3://{iam_s3.bucket}/{prefix}"
        options = S3Options(endpoint_url=iam_s3.s3.url, region="us-east-1", addressing_style="path")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ACCESS_KEY_ID", iam_s3.writer[0])
            patch.setenv("AWS_SECRET_ACCESS_KEY", iam_s3.writer[1])
            fill_render_channel(open_storage(parse_channel(url, options)), tmp_path / "build", 50)
        env = _env(proxy, tmp_path / "cache", iam_s3.reader)
        moved = _counted(
            proxy, "env", "create", str(tmp_path / "e"), "--packages", *REQUEST, "--channels", url, env=env
        )
        assert proxy.tally.count(status=403) == 0, tallied(moved)
        assert proxy.tally.count("HeadObject") == 0, tallied(moved)
        # A channel another tool wrote without shards: a 404 per subdir, then its repodata.json.
        writer = iam_s3.s3.client(*iam_s3.writer)
        for subdir in ("noarch", "linux-64"):
            writer.delete_object(Bucket=iam_s3.bucket, Key=f"{prefix}/{subdir}/repodata_shards.msgpack.zst")
        env = _env(proxy, tmp_path / "cache2", iam_s3.reader)
        moved = _counted(
            proxy, "env", "create", str(tmp_path / "f"), "--packages", *REQUEST, "--channels", url, env=env
        )
        assert proxy.tally.count(status=403) == 0, tallied(moved)
        assert proxy.tally.count("GetObject", "repodata_shards.msgpack.zst", 404) == 2, tallied(moved)
        assert proxy.tally.count("GetObject", "/repodata.json", 200) == 2, tallied(moved)
    finally:
        proxy.stop()


def test_job_record_session_reads_the_record_and_its_names_shards_and_only_the_record_once_on_the_host(
    s3: S3Endpoint, bucket: str, proxy: S3Proxy, tmp_path: Path
) -> None:
    url, prefix = _channel(s3, bucket, tmp_path)
    jobs = ("--job-records", f"s3://{bucket}/jobs", "--job-id", "job-1")
    enter = ("env", "enter", "--packages", *REQUEST, "--channels", url, *jobs)
    _counted(proxy, *enter, env=_env(proxy, tmp_path / "first-host"))
    env = _env(proxy, tmp_path / "cache")
    first = _counted(proxy, *enter, env=env)
    metadata = {_record(k): n for k, n in first["exchanges"].items() if not k.split()[1].endswith(".conda")}
    assert metadata == {
        "GetObject jobs/job-1/RECORD 200": 1,
        f"GetObject {prefix}/noarch/repodata_shards.msgpack.zst 200": 1,
        f"GetObject {prefix}/noarch/shards/*.msgpack.zst 200": 2,
    }, tallied(first)
    again = _counted(proxy, *enter, env=env)
    assert {_record(k): n for k, n in again["exchanges"].items()} == {"GetObject jobs/job-1/RECORD 200": 1}, tallied(
        again
    )


def test_the_host_that_solved_and_recorded_a_job_enters_it_again_with_only_the_records_get(
    s3: S3Endpoint, bucket: str, proxy: S3Proxy, tmp_path: Path
) -> None:
    url, _ = _channel(s3, bucket, tmp_path)
    jobs = ("--job-records", f"s3://{bucket}/jobs", "--job-id", "job-1")
    enter = ("env", "enter", "--packages", *REQUEST, "--channels", url, *jobs)
    env = _env(proxy, tmp_path / "cache")
    proxy.tally.reset()
    first = run_cli(*enter, env=env)
    assert first.returncode == 0 and "(created)" in first.stdout, first.stderr
    again = _counted(proxy, *enter, env=env)
    assert {_record(k): n for k, n in again["exchanges"].items()} == {"GetObject jobs/job-1/RECORD 200": 1}, tallied(
        again
    )
    assert len(list((tmp_path / "cache" / "envs").glob("*/1"))) == 1  # not installed a second time


def _record(exchange: str) -> str:
    """An exchange with the job record's name (a hash of the request) as RECORD."""
    op, key, status = exchange.split()
    return f"{op} {key.rsplit('/', 1)[0]}/RECORD {status}" if key.endswith(".lock.txt") else exchange


def test_a_package_is_found_by_env_when_publish_returns_in_a_subdir_too_large_to_compact(
    channel: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from condafarm import publish
    from condafarm.storage import open_storage

    fill_render_channel(open_storage(channel), tmp_path / "build", 40)
    monkeypatch.setenv("CONDAFARM_COMPACT_BYTES", "1")  # every subdir is "large": publish leaves repodata.json
    publish(channel, [make_package(tmp_path / "new", "comp-tool", "3.0", depends=["render-lic"])])
    assert b"comp-tool" not in open_storage(channel).get("noarch/repodata.json").data  # type: ignore[union-attr]
    env = {**env_with(tmp_path / "cache"), **({k: v for k, v in _s3_env(channel).items()})}
    result = run_cli(
        "env", "create", str(tmp_path / "e"), "--packages", "comp-tool", "--channels", channel.url, env=env
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "e" / "conda-meta").is_dir()


def _s3_env(channel: Any) -> dict[str, str]:
    if not channel.is_s3:
        return {}
    return {"S3_ENDPOINT_URL": str(channel.s3.endpoint_url), "S3_REGION": "us-east-1", "S3_FORCE_PATH_STYLE": "true"}


def test_a_folder_shard_that_is_not_what_its_index_names_is_a_one_line_error(tmp_path: Path) -> None:
    from condafarm import parse_channel
    from condafarm.storage import open_storage

    root = tmp_path / "channel"
    fill_render_channel(open_storage(parse_channel(str(root))), tmp_path / "build", 10)
    for shard in (root / "noarch" / "shards").glob("*.msgpack.zst"):
        shard.write_bytes(shard.read_bytes() + b"\0")
    result = run_cli(
        "env",
        "create",
        str(tmp_path / "e"),
        "--packages",
        *REQUEST,
        "--channels",
        str(root),
        env=env_with(tmp_path / "cache"),
    )
    assert result.returncode == 7, result.stderr
    assert "is not the file its shard index names (sha256 differs); run `condafarm index`" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "e").exists()


def test_sixteen_sessions_entering_one_environment_at_once_solve_and_download_once(
    s3: S3Endpoint, bucket: str, proxy: S3Proxy, tmp_path: Path
) -> None:
    import subprocess
    import sys

    url, prefix = _channel(s3, bucket, tmp_path)
    least = floor(s3.client(), bucket, prefix)
    env = _env(proxy, tmp_path / "cache")
    proxy.tally.reset()
    sessions = [
        subprocess.Popen(
            [sys.executable, "-m", "condafarm", "env", "enter", "--packages", *REQUEST, "--channels", url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(16)
    ]
    outputs = [session.communicate(timeout=600) for session in sessions]
    assert all(session.returncode == 0 for session in sessions), [err for _, err in outputs]
    moved = proxy.tally.snapshot()
    _at_floor(moved, least)
    said = "".join(out + err for out, err in outputs)
    assert said.count("(created)") == 1 and said.count("(reused)") == 15, said


def test_an_http_channel_is_read_through_its_shards(tmp_path: Path) -> None:
    """A folder channel served by a plain HTTP server, its `repodata.json` gone: only the shards can serve it."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from condafarm import parse_channel
    from condafarm.storage import open_storage

    root = tmp_path / "channel"
    fill_render_channel(open_storage(parse_channel(str(root))), tmp_path / "build", 10)
    for subdir in ("noarch", "linux-64"):
        for name in ("repodata.json", "repodata.json.zst", "repodata.json.bz2"):
            (root / subdir / name).unlink(missing_ok=True)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_cli(
            "env", "create", str(tmp_path / "e"), "--packages", *REQUEST, "--channels", url,
            env=env_with(tmp_path / "cache"),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()


@pytest.mark.parametrize("content", ["garbage", "bomb"])
def test_a_folder_shard_that_cannot_be_unpacked_is_a_channel_problem_naming_it(content: str, tmp_path: Path) -> None:
    import hashlib
    import io

    import zstandard

    from condafarm import parse_channel
    from condafarm.conda.shards import SHARDS_INDEX, make_index, read_index
    from condafarm.storage import open_storage

    root = tmp_path / "channel"
    fill_render_channel(open_storage(parse_channel(str(root))), tmp_path / "build", 10)
    if content == "garbage":
        data = os.urandom(2048)
    else:  # 8 KB that unpack to 300 MiB
        out = io.BytesIO()
        with zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False) as writer:
            for _ in range(300):
                writer.write(bytes(1 << 20))
        data = out.getvalue()
    digest = hashlib.sha256(data).hexdigest()  # named by its content, as a shard is
    (root / "noarch" / "shards" / f"{digest}.msgpack.zst").write_bytes(data)
    names, _ = read_index((root / "noarch" / SHARDS_INDEX).read_bytes())
    (root / "noarch" / SHARDS_INDEX).write_bytes(make_index("noarch", {**names, "render-lic": digest}))
    args = ("env", "create", str(tmp_path / "e"), "--packages", *REQUEST, "--channels", str(root))
    result = run_cli(*args, env=env_with(tmp_path / "cache"))
    assert result.returncode == 7, result.stderr
    assert f"{digest}.msgpack.zst (the shard of render-lic) cannot be unpacked; run `condafarm index --rebuild`" in (
        result.stderr
    )
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "e").exists()
    plain = run_cli("index", str(root))  # the damaged shard is named, not a crash
    assert plain.returncode == 7 and "cannot be unpacked; run `condafarm index --rebuild`" in plain.stderr, plain.stderr
    assert run_cli("index", "--rebuild", str(root)).returncode == 0  # what the message says to do works
    assert run_cli(*args, env=env_with(tmp_path / "cache")).returncode == 0


@pytest.mark.posix("makes fifos")
@pytest.mark.parametrize("planted", ["linux-64/repodata_shards.msgpack.zst", "noarch/shards/SHARD"])
def test_a_fifo_planted_for_a_folder_shard_index_or_shard_is_refused_not_waited_on(
    planted: str, tmp_path: Path
) -> None:
    from condafarm import parse_channel
    from condafarm.storage import open_storage

    root = tmp_path / "channel"
    fill_render_channel(open_storage(parse_channel(str(root))), tmp_path / "build", 10)
    shards = list((root / "noarch" / "shards").glob("*.msgpack.zst"))  # every shard: the job's names are among them
    for path in shards if planted.endswith("SHARD") else [root / planted]:
        path.unlink(missing_ok=True)
        os.mkfifo(path)  # no one ever writes it: a read waits for good
    args = ("env", "create", str(tmp_path / "e"), "--packages", *REQUEST, "--channels", str(root))
    result = run_cli(*args, env=env_with(tmp_path / "cache"), timeout=60)
    assert result.returncode == 4, result.stderr
    assert "(a symlink out of it, a fifo or a device); condafarm does not read it: remove it" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "e").exists()


def _linux_64_index(root: Path, index: bytes) -> None:
    (root / "linux-64" / "repodata_shards.msgpack.zst").write_bytes(index)


def test_a_folder_shard_index_whose_digest_is_a_number_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    import msgpack
    import zstandard

    from condafarm import parse_channel
    from condafarm.storage import open_storage

    root = tmp_path / "channel"
    fill_render_channel(open_storage(parse_channel(str(root))), tmp_path / "build", 10)
    # bytes(N) of a number N is N zero bytes: 2**64-1 overflows, 2**33 would be 8 GiB
    hostile = {"info": {"subdir": "linux-64"}, "shards": {"comp-tool": 2**64 - 1}}
    _linux_64_index(root, zstandard.ZstdCompressor().compress(msgpack.packb(hostile)))
    args = ("env", "create", str(tmp_path / "e"), "--packages", *REQUEST, "--channels", str(root))
    result = run_cli(*args, env=env_with(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr  # read as a subdir without shards: its repodata.json


@pytest.mark.posix("limits the address space with setrlimit")
def test_a_shard_index_that_unpacks_to_gigabytes_is_unreadable_not_unpacked_whole(tmp_path: Path) -> None:
    probe = """
import io, resource, zstandard
from condafarm.conda.shards import read_index
out = io.BytesIO()
with zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False) as w:
    for _ in range(1024):
        w.write(bytes(1 << 20))
data = out.getvalue()
assert len(data) < 64 * 1024, len(data)  # a few KB claiming 1 GiB
resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))
print(read_index(data))
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "({}, False)"
