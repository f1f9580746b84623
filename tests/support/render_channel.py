"""A render channel of any size for the reader-side tests and bench/: the render job's real packages (`render-tool`
needing `render-lic`, both noarch) among `filler` synthetic records per subdir (noarch and linux-64), committed
with condafarm's own writer (shards, `repodata.json`, `.zst`, `run_exports.json`) without publishing each one,
so 100,000 records take seconds. What a cold render host must move at least (`Floor`) is read from the bucket."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.packages import make_package

#: The packages a render job asks for, and their closure (the names whose shards a solve needs).
REQUEST = ("render-tool",)
CLOSURE = ("render-tool", "render-lic")
SUBDIRS = ("noarch", "linux-64")
#: Synthetic records per synthetic name (versions x build numbers), as in a dev channel.
RECORDS_PER_NAME = 20


def render_files(folder: Path) -> list[Path]:
    """The render job's two real packages, built into `folder`."""
    tool = make_package(folder, "render-tool", "1.0", script=True, depends=["render-lic >=2"])
    lic = make_package(folder, "render-lic", "2.0")
    return [tool, lic]


def filler_records(subdir: str, count: int, template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`count` records of synthetic names (`fillNNNNN`), each depending on three others, unique hashes."""
    names = max(1, count // RECORDS_PER_NAME)
    out = {}
    for i in range(count):
        n, j = i % names, i // names
        digest = hashlib.sha256(f"{subdir}/{n}/{j}".encode()).hexdigest()
        name, version, build = f"fill{n:05d}", f"1.{j // 2}", f"h{digest[:8]}_{j % 2}"
        out[f"{name}-{version}-{build}.conda"] = {
            **template,
            "name": name,
            "version": version,
            "build": build,
            "build_number": j % 2,
            "subdir": subdir,
            "depends": [f"fill{(n + k) % names:05d} >=1.0" for k in (1, 7, 31)],
            "sha256": digest,
            "md5": digest[:32],
            "size": 20_000 + int(digest[:4], 16),
        }
    return out


def fill_render_channel(storage: Any, folder: Path, filler: int) -> list[Path]:
    """Commit the render packages plus `filler` synthetic records in each of noarch and linux-64 to `storage`
    (a condafarm Storage, empty), and put the two package files beside their records. Returns the files."""
    from condafarm.channel.commit.store import commit_repodata, init_channel
    from condafarm.channel.publish import prepare
    from condafarm.conda.repodata import Repodata

    files = render_files(folder)
    prepared = [prepare(path) for path in files]
    for subdir in SUBDIRS:
        repodata = Repodata(subdir=subdir)
        template = {k: v for k, v in prepared[0].record(0).items() if k not in ("depends", "subdir")}
        for filename, record in filler_records(subdir, filler, template).items():
            repodata.set(filename, record)
        if subdir == "noarch":
            for item in prepared:
                repodata.set(item.filename, item.record(0))
        commit_repodata(storage, subdir, repodata, None)
    init_channel(storage)
    for path in files:
        storage.put(f"noarch/{path.name}", path.read_bytes(), content_type="application/octet-stream")
    return files


@dataclass(frozen=True)
class Floor:
    """What a cold host must fetch at least for the render job: both shard indexes, the closure's shards and
    the package files."""

    requests: int
    bytes: int


def floor(client: Any, bucket: str, prefix: str, closure: tuple[str, ...] = CLOSURE) -> Floor:
    """The floor for `closure` in the channel at `s3://bucket/prefix`, from the sizes of its objects."""
    import msgpack
    import zstandard

    total = requests = 0
    for subdir in SUBDIRS:
        index_key = f"{prefix}/{subdir}/repodata_shards.msgpack.zst"
        data = client.get_object(Bucket=bucket, Key=index_key)["Body"].read()
        total, requests = total + len(data), requests + 1
        index = msgpack.unpackb(zstandard.ZstdDecompressor().decompressobj().decompress(data), raw=False)
        for name in closure:
            digest = index["shards"].get(name)
            if digest is None:
                continue
            key = f"{prefix}/{subdir}/shards/{bytes(digest).hex()}.msgpack.zst"
            total, requests = total + client.head_object(Bucket=bucket, Key=key)["ContentLength"], requests + 1
            if subdir == "noarch":
                shard = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                records = msgpack.unpackb(zstandard.ZstdDecompressor().decompressobj().decompress(shard), raw=False)
                for filename in records.get("packages.conda", {}):
                    size = client.head_object(Bucket=bucket, Key=f"{prefix}/{subdir}/{filename}")["ContentLength"]
                    total, requests = total + size, requests + 1
    return Floor(requests, total)


def tallied(snapshot: dict[str, Any]) -> str:
    """A tally snapshot's exchanges, one per line, for assertion messages."""
    return json.dumps(snapshot["exchanges"], indent=1, sort_keys=True)
