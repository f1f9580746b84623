"""py-rattler as an independent conda client, run in its own process by the tests (and by bench/).

py-rattler 0.28 sometimes crashes during interpreter teardown after a successful call; running it in a child
process that leaves with `os._exit` (`exit_after`) keeps that out of the test process.

usage (python tests/support/rattler_client.py ...):
  install CHANNEL PREFIX SPEC... [--endpoint URL] [--cache DIR]   -> JSON list of installed records
                                  (--cache: repodata and packages there, kept between runs; default PREFIX-cache)
  index-fs FOLDER
  index-s3 S3URL --endpoint URL [--shards]   (--shards: also the CEP-16 shards)
  query-sharded URL SUBDIR NAME... [--endpoint URL]   -> JSON list of "name=version=build" found through
                                                        CEP-16 shards only (URL: http(s):// or s3://)
  judge LOCATION SUBDIR... [--endpoint URL]  -> JSON: what each way of reading the channel shows (`judge`)

`sharded(...)` runs query-sharded from a test, serving a folder channel over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any


def _client(endpoint: str | None, bucket: str | None):  # type: ignore[no-untyped-def]
    from rattler.networking import AuthenticationMiddleware, Client, RetryMiddleware, S3Middleware
    from rattler.networking.middleware import S3Config

    if endpoint is None or bucket is None:
        return None
    return Client(
        [RetryMiddleware(), AuthenticationMiddleware(), S3Middleware({bucket: S3Config(endpoint, "us-east-1", "path")})]
    )


async def install(
    channel: str, prefix: str, specs: list[str], endpoint: str | None, cache: str | None = None
) -> list[dict[str, object]]:
    import rattler

    bucket = channel[len("s3://") :].split("/", 1)[0] if channel.startswith("s3://") else None
    client = _client(endpoint, bucket)
    cache = cache or prefix + "-cache"
    gateway = rattler.Gateway(cache_dir=cache, client=client)
    records = await rattler.solve(
        sources=[channel],
        specs=specs,
        gateway=gateway,
        platforms=[rattler.Platform.current(), rattler.Platform("noarch")],
    )
    await rattler.install(records, target_prefix=prefix, cache_dir=cache, client=client, show_progress=False)
    return [
        {
            "name": r.name.normalized,
            "version": str(r.version),
            "build": str(r.build),
            "build_number": r.build_number,
            "sha256": r.sha256.hex() if r.sha256 else None,
            "url": str(r.url),
        }
        for r in records
    ]


async def query_sharded(url: str, subdir: str, names: list[str], cache: str, endpoint: str | None) -> list[str]:
    import rattler

    bucket = url[len("s3://") :].split("/", 1)[0] if url.startswith("s3://") else None
    config = rattler.SourceConfig(sharded_enabled=True, jlap_enabled=False, cache_action="no-cache")
    gateway = rattler.Gateway(cache_dir=cache, default_config=config, client=_client(endpoint, bucket))
    found = await gateway.query([rattler.Channel(url)], [rattler.Platform(subdir)], names, recursive=False)
    return sorted(f"{r.name.normalized}={r.version}={r.build}" for records in found for r in records)


async def _view(gateway: Any, url: str, subdir: str) -> dict[str, dict[str, str]]:
    """Every record `gateway` sees in `url/subdir`: its names first, then each name's records."""
    import rattler

    channel, platform = rattler.Channel(url), rattler.Platform(subdir)
    names = [n.normalized for n in await gateway.names([channel], [platform])]
    found = await gateway.query([channel], [platform], names, recursive=False) if names else []
    return {
        r.file_name: {"subdir": r.subdir, "sha256": r.sha256.hex() if r.sha256 else "", "url": str(r.url)}
        for records in found
        for r in records
    }


async def judge(url: str, subdirs: list[str], endpoint: str | None, cache: str) -> dict[str, Any]:
    """Read `url` as a conda client does, three ways: `repodata.json` alone, `repodata.json.zst` (what clients
    fetch first) and the CEP-16 shards; then download every file any of them names and hash it.

    Returns `{"views": {view: {subdir: {filename: record}}}, "shard_index": {subdir: bool},
    "files": {url: sha256 or null if it could not be downloaded}}`.
    """
    import hashlib

    import rattler
    from rattler.package_streaming import download_bytes

    bucket = url[len("s3://") :].split("/", 1)[0] if url.startswith("s3://") else None
    client = _client(endpoint, bucket)
    #: view -> (zstd, sharded); never a cache, so a view is what the channel says now
    ways = {"repodata.json": (False, False), "repodata.json.zst": (True, False), "shards": (True, True)}
    views: dict[str, dict[str, Any]] = {}
    for view, (zstd, sharded) in ways.items():
        config = rattler.SourceConfig(
            zstd_enabled=zstd, bz2_enabled=False, sharded_enabled=sharded, jlap_enabled=False, cache_action="no-cache"
        )
        gateway = rattler.Gateway(cache_dir=os.path.join(cache, view), default_config=config, client=client)
        views[view] = {subdir: await _view(gateway, url, subdir) for subdir in subdirs}
    download = client or rattler.Client()

    async def sha256_of(target: str) -> str | None:
        try:
            return hashlib.sha256(await download_bytes(download, target)).hexdigest()
        except Exception:
            return None

    shard_index = {s: await sha256_of(f"{url}/{s}/repodata_shards.msgpack.zst") is not None for s in subdirs}
    urls = {r["url"] for subdir_views in views.values() for found in subdir_views.values() for r in found.values()}
    return {"views": views, "shard_index": shard_index, "files": {u: await sha256_of(u) for u in sorted(urls)}}


def judge_location(location: str, subdirs: list[str], endpoint: str | None) -> dict[str, Any]:
    """`judge` a channel given as an `s3://` URL or a folder; a folder is served over HTTP on 127.0.0.1 for the
    time of the reads, because py-rattler reads shards over HTTP(S) and S3 only (on `file://` it falls back to
    `repodata.json` without a word, which would leave the shards unjudged)."""
    import asyncio
    import functools
    import tempfile
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    with tempfile.TemporaryDirectory() as cache:
        if location.startswith("s3://"):
            return asyncio.run(judge(location.rstrip("/"), subdirs, endpoint, cache))

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=location))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            return asyncio.run(judge(f"http://127.0.0.1:{server.server_address[1]}", subdirs, None, cache))
        finally:
            server.shutdown()
            server.server_close()


def s3_credentials(endpoint: str) -> Any:
    """py-rattler's S3 credentials for a local endpoint: path-style, the fake keys moto accepts."""
    from rattler.index import S3Credentials

    return S3Credentials(
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        addressing_style="path",
    )


def sharded(
    channel: str, subdir: str, names: list[str], endpoint: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `query-sharded` in a child process on `channel` (an s3:// URL with `endpoint`, or a folder, which is
    served over HTTP on 127.0.0.1 meanwhile: py-rattler reads shards over HTTP and S3 only)."""
    import functools
    import http.server
    import threading

    def run(url: str) -> subprocess.CompletedProcess[str]:
        extra = ["--endpoint", endpoint] if endpoint else []
        command = [sys.executable, __file__, "query-sharded", url, subdir, *names, *extra]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    if channel.startswith("s3://"):
        return run(channel)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=channel))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return run(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()


def exit_after(func: Callable[[list[str]], int], argv: list[str]) -> None:
    """Run `func(argv)` and leave the process with its exit code through `os._exit`, after flushing output and
    reporting any failure on stderr (no interpreter teardown, where py-rattler can crash)."""
    try:
        code = func(argv)
    except BaseException as exc:
        import traceback

        traceback.print_exc()
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str]) -> int:
    import asyncio

    endpoint = None
    if "--endpoint" in argv:
        i = argv.index("--endpoint")
        endpoint = argv[i + 1]
        del argv[i : i + 2]
    cache = None
    if "--cache" in argv:
        i = argv.index("--cache")
        cache = argv[i + 1]
        del argv[i : i + 2]
    shards = "--shards" in argv
    if shards:
        argv.remove("--shards")
    command = argv[0]
    if command == "install":
        result = asyncio.run(install(argv[1], argv[2], argv[3:], endpoint, cache))
        print(json.dumps(result))
    elif command == "index-fs":
        from rattler.index import index_fs

        asyncio.run(index_fs(argv[1], write_shards=False))
    elif command == "index-s3":
        from rattler.index import index_s3

        assert endpoint is not None, "index-s3 needs --endpoint"
        asyncio.run(index_s3(argv[1], credentials=s3_credentials(endpoint), write_shards=shards))
    elif command == "query-sharded":
        import tempfile

        with tempfile.TemporaryDirectory() as cache:
            print(json.dumps(asyncio.run(query_sharded(argv[1], argv[2], argv[3:], cache, endpoint))))
    elif command == "judge":
        print(json.dumps(judge_location(argv[1], argv[2:], endpoint)))
    else:
        raise SystemExit(f"unknown command {command}")
    return 0


if __name__ == "__main__":
    exit_after(main, sys.argv[1:])
