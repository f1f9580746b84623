"""py-rattler as an independent conda client, run in its own process by the tests (and by bench/).

py-rattler 0.28 sometimes crashes during interpreter teardown after a successful call; running it in a child
process that leaves with `os._exit` (`exit_after`) keeps that out of the test process.

usage (python tests/support/rattler_client.py ...):
  install CHANNEL PREFIX SPEC... [--endpoint URL] [--cache DIR]   -> JSON list of installed records
                                  (--cache: repodata and packages there, kept between runs; default PREFIX-cache)
  index-fs FOLDER
  index-s3 S3URL --endpoint URL [--shards]   (--shards: also the CEP-16 shards)
  query-sharded HTTPURL SUBDIR NAME...    -> JSON list of "name=version=build" found through CEP-16 shards only
"""

from __future__ import annotations

import json
import os
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


async def query_sharded(url: str, subdir: str, names: list[str], cache: str) -> list[str]:
    import rattler

    config = rattler.SourceConfig(sharded_enabled=True, jlap_enabled=False, cache_action="no-cache")
    gateway = rattler.Gateway(cache_dir=cache, default_config=config)
    found = await gateway.query([rattler.Channel(url)], [rattler.Platform(subdir)], names, recursive=False)
    return sorted(f"{r.name.normalized}={r.version}={r.build}" for records in found for r in records)


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
            print(json.dumps(asyncio.run(query_sharded(argv[1], argv[2], argv[3:], cache))))
    else:
        raise SystemExit(f"unknown command {command}")
    return 0


if __name__ == "__main__":
    exit_after(main, sys.argv[1:])
