"""The benchmark's channels: packages generated once into a cache, placed into folders or uploaded to buckets."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from common import PREFIX, SUBDIRS
from support.moto import MotoServer
from support.packages import assemble
from support.s3 import new_bucket, upload_files


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

    def drop(self, bucket: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
            if keys:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        self.client.delete_bucket(Bucket=bucket)
