"""The benchmark's channels: packages generated once into a cache, placed into folders or uploaded to buckets;
synthetic channels of many records (repodata without package files) committed by condafarm's own writer; and
what a channel's index holds after a benchmark published into it."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import PREFIX, ROOT, SUBDIRS, child_env
from support.moto import MotoServer
from support.packages import assemble, make_package
from support.s3 import new_bucket, upload_files

if TYPE_CHECKING:
    from condafarm.conda.repodata import Repodata
    from condafarm.storage import Storage
    from condafarm.storage.location import Channel

#: Builds per package name in a synthetic channel: 100,000 records are 5,000 names, as in a busy dev channel.
RECORDS_PER_NAME = 20


class Pool:
    """Packages generated once into the cache: `pool.paths[i]` is package number i (relative to `root`)."""

    def __init__(self, root: Path, kind: str, mb: int = 0) -> None:
        self.root, self.kind, self.mb = root, kind, mb
        self.manifest = root / "manifest.json"
        self.paths: list[Path] = []
        if self.manifest.exists():
            rel = json.loads(self.manifest.read_text())
            self.paths = [root / r for r in rel]
            if not all(p.exists() for p in self.paths):
                self.paths = []

    def ensure(self, count: int) -> list[Path]:
        if len(self.paths) >= count:
            return self.paths[:count]
        started = time.monotonic()
        missing = count - len(self.paths)
        print(f"  generating {missing} {self.kind} package(s) into {self.root} ...", flush=True)
        self.root.mkdir(parents=True, exist_ok=True)
        for i in range(len(self.paths), count):
            self.paths.append(self._make(i))
        shutil.rmtree(self.root / ".staging", ignore_errors=True)
        self.manifest.write_text(json.dumps([p.relative_to(self.root).as_posix() for p in self.paths]))
        print(f"  generated in {time.monotonic() - started:.1f}s", flush=True)
        return self.paths[:count]

    def _make(self, i: int) -> Path:
        subdir = SUBDIRS[i % len(SUBDIRS)]
        staging = self.root / ".staging" / str(i)
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "share").mkdir(parents=True)
        if self.kind == "small":
            # ~100 names with many versions each, a dependency on every 5th, content unique per package
            name = f"pkg{i % 97:02d}"
            (staging / "share" / f"{name}.txt").write_text(f"{name} {i} {secrets.token_hex(64)}\n" * 4)
            depends = [f"pkg{(i + 1) % 97:02d} >=1.0", "python >=3.10"] if i % 5 == 0 else []
            return assemble(staging, self.root, name, f"1.{i}", i % 3, subdir, depends=depends)
        # large: one incompressible file of `mb` MB
        with open(staging / "share" / "blob.bin", "wb") as f:
            for _ in range(self.mb):
                f.write(os.urandom(1024 * 1024))
        path = assemble(staging, self.root, f"big{i:02d}", "1.0", 0, subdir)
        shutil.rmtree(staging)
        return path


def place(paths: list[Path], pool_root: Path, channel: Path) -> None:
    """Put package files into a channel folder (hard links: instant and no extra disk; copy if impossible)."""
    for src in paths:
        dst = channel / src.relative_to(pool_root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


class Buckets:
    """Buckets on the benchmark's moto server, each holding one channel under `PREFIX`."""

    def __init__(self, moto: MotoServer) -> None:
        self.url = moto.url
        self.client: Any = moto.endpoint.client(max_pool_connections=16)

    def new(self, label: str) -> str:
        return new_bucket(self.client, f"bench-{label}")

    def upload(self, bucket: str, paths: list[Path], pool_root: Path) -> None:
        """Upload as a plain uploader would: `upload_file`, no hash metadata."""
        upload_files(self.client, bucket, PREFIX, paths, pool_root, threads=8)

    def channel(self, bucket: str, endpoint: str | None = None) -> Channel:
        """The channel in `bucket`, reached through `endpoint` (default: moto itself, bypassing the proxy)."""
        from condafarm import S3Options, parse_channel

        options = S3Options(endpoint_url=endpoint or self.url, region="us-east-1", addressing_style="path")
        return parse_channel(f"s3://{bucket}/{PREFIX}", options)

    def fill(self, bucket: str, repodata: Repodata, endpoint: str, *, placeholders: bool = False) -> None:
        """Commit `repodata` (and an empty noarch) with condafarm's own writer, so `.zst`, shards and
        `run_exports.json` exist as in a real channel. It writes through `endpoint`, the one the measured
        writers will use (the proxy): condafarm probes a store on a host's first write to it (per endpoint
        and bucket) and remembers the answer, so the probe happens here, not in the measurement. With
        `placeholders`, every record's key also gets an object of the record's size, so `condafarm check`
        finds the channel whole (it compares sizes only)."""
        from condafarm.channel.commit.store import commit_repodata, init_channel
        from condafarm.storage import open_storage

        storage = open_storage(self.channel(bucket, endpoint))
        commit_repodata(storage, repodata.subdir, repodata, None)
        if repodata.subdir != "noarch":
            init_channel(storage)
        if placeholders:
            records = repodata.records().items()

            def put(item: tuple[str, dict[str, Any]]) -> None:
                key = f"{PREFIX}/{repodata.subdir}/{item[0]}"
                self.client.put_object(Bucket=bucket, Key=key, Body=b"\0" * item[1]["size"])

            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(put, records))

    def public_url(self, bucket: str) -> str:
        """The channel's plain HTTP URL, after a bucket policy lets anyone read it (as a client without keys)."""
        read = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
        self.client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [read]}))
        return f"{self.url}/{bucket}/{PREFIX}/"

    def drop(self, bucket: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
            if keys:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        self.client.delete_bucket(Bucket=bucket)


def record_template(subdir: str = "noarch") -> dict[str, Any]:
    """A real package's repodata record, as publish makes it, for synthetic records to copy."""
    from condafarm.channel.publish import prepare

    with tempfile.TemporaryDirectory() as tmp:
        return prepare(make_package(Path(tmp), "template", subdir=subdir)).record(0)


def synthetic_name(n: int) -> str:
    return f"synth{n:05d}"


def synthetic_repodata(subdir: str, count: int) -> Repodata:
    """`count` records shaped like a dev channel's: `RECORDS_PER_NAME` builds per name (versions x 2 build
    numbers), five dependencies on other names of the channel, and unique hashes, sizes and timestamps.
    No package files: publish and clients read only the records."""
    from condafarm.conda.repodata import Repodata

    template, now_ms = record_template(subdir), int(time.time() * 1000)
    names = max(1, count // RECORDS_PER_NAME)
    repodata = Repodata(subdir=subdir)
    for i in range(count):
        n, j = i % names, i // names
        name, version, number = synthetic_name(n), f"1.{j // 2}", j % 2
        digest = hashlib.sha256(f"{subdir}/{name}/{j}".encode()).hexdigest()
        build = f"h{digest[:8]}_{number}"
        depends = [f"{synthetic_name((n + k) % names)} >=1.0" for k in (1, 7, 31)]
        record = {
            **template,
            "name": name,
            "version": version,
            "build": build,
            "build_number": number,
            "depends": [*depends, "python >=3.10", "libzlib >=1.3.1,<2.0a0"],
            "sha256": digest,
            "md5": digest[:32],
            "size": 20_000 + int(digest[:4], 16),
            "timestamp": now_ms - (count - i) * 60_000,
            "indexed_timestamp": now_ms - (count - i) * 60_000,
        }
        repodata.set(f"{name}-{version}-{build}.conda", record)
    return repodata


def missing_from_index(storage: Storage, subdir: str, filenames: list[str]) -> dict[str, list[str]]:
    """Which of `filenames` the subdir's `repodata.json` itself (not the records condafarm reads, which add
    commits it does not show yet), and its CEP-16 shards (the shard its name has in
    `repodata_shards.msgpack.zst`), do not list."""
    from condafarm.conda.package import split_filename
    from condafarm.conda.repodata import Repodata, repodata_key
    from condafarm.conda.shards import SHARDS_INDEX, Shards, read_shard, read_shard_names

    blob = storage.get(repodata_key(subdir))
    records = Repodata.from_json(blob.data, subdir).records() if blob is not None else {}
    index = storage.get(f"{subdir}/{SHARDS_INDEX}")
    shard_of = read_shard_names(index.data) if index is not None else {}
    in_shards: set[str] = set()
    for name in {split_filename(f)[0] for f in filenames} & set(shard_of):
        shard = storage.get(Shards.key(subdir, shard_of[name]))
        if shard is not None:
            held = read_shard(shard.data)
            in_shards |= set(held.packages) | set(held.packages_conda)
    return {
        "repodata.json": [f for f in filenames if f not in records],
        "shards": [f for f in filenames if f not in in_shards],
    }


def rattler_misses(url: str, subdir: str, filenames: list[str]) -> list[str]:
    """Which of `filenames` py-rattler's gateway does not find in the channel at HTTP `url` (it reads the
    CEP-16 shards when there are); run in its own process, as the tests run py-rattler."""
    from condafarm.conda.package import split_filename

    wanted = {f: "=".join(split_filename(f)[:3]) for f in filenames}
    names = sorted({split_filename(f)[0] for f in filenames})
    client = ROOT / "tests" / "support" / "rattler_client.py"
    cmd = [sys.executable, str(client), "query-sharded", url, subdir, *names]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"py-rattler query of {url} failed:\n{proc.stderr[-4000:]}")
    found = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    return [f for f, spec in wanted.items() if spec not in found]
