"""`condafarm mirror` from a large upstream: what reading it through shards saves against its repodata.json.

usage: python bench/mirror_bench.py [--records 100000] [--repeat 3]

The upstream is a folder served over HTTP on 127.0.0.1: the real packages of a small environment (`renderapp`
and its closure on linux-64 and win-64, tests/support/upstream.py) among `--records` synthetic records (no files;
bench/channels.py) spread over noarch, linux-64 and win-64, committed with condafarm's own writer so
`repodata.json`, `.zst` and CEP-16 shards exist as on conda-forge. Each case mirrors into a fresh folder channel:

- `shards`: the upstream as it is; py-rattler reads the shard index and the shards of the names it touches;
- `repodata.json`: the same upstream without shards; py-rattler reads each subdir's `repodata.json.zst`;
- `rerun`: mirror again into the channel `shards` filled, nothing changed upstream.

Reported per case: upstream metadata bytes and requests (everything but package files), package files and their
bytes, and seconds (median of `--repeat`).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from channels import synthetic_repodata
from common import ROOT  # noqa: F401  (puts tests/ on the import path)
from support.upstream import make_upstream


@dataclass
class Tally:
    """What the upstream's HTTP server answered: request paths and the bytes of each body."""

    sent: list[tuple[str, int]] = field(default_factory=list)

    def metadata(self) -> tuple[int, int]:
        rows = [size for path, size in self.sent if not path.endswith((".conda", ".tar.bz2"))]
        return len(rows), sum(rows)

    def packages(self) -> tuple[int, int]:
        rows = [size for path, size in self.sent if path.endswith((".conda", ".tar.bz2"))]
        return len(rows), sum(rows)


@contextmanager
def counting_server(root: Path, tally: Tally) -> Iterator[str]:
    lock = threading.Lock()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            """Quiet: `log_request` counts."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            path = self.translate_path(self.path)
            body = str(code) == "200" and self.command == "GET" and os.path.isfile(path)  # HEAD probes send none
            sent = os.path.getsize(path) if body else 0
            with lock:
                tally.sent.append((self.path, sent))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def build_upstream(root: Path, records: int, shards: bool) -> None:
    """The closure's real packages among `records` synthetic ones, indexed as one channel."""
    from condafarm import parse_channel
    from condafarm.channel.commit.store import commit_repodata, load_repodata
    from condafarm.storage import open_storage

    make_upstream(root, fillers=0)
    storage = open_storage(parse_channel(str(root)))
    for subdir, share in (("noarch", 0.3), ("linux-64", 0.5), ("win-64", 0.2)):
        repodata, current = load_repodata(storage, subdir)
        for filename, record in synthetic_repodata(subdir, int(records * share)).records().items():
            repodata.set(filename, record)
        commit_repodata(storage, subdir, repodata, current)
    if not shards:  # drop them without re-indexing, which would drop the synthetic records (they have no files)
        for subdir in ("noarch", "linux-64", "win-64"):
            (root / subdir / "repodata_shards.msgpack.zst").unlink()
            shutil.rmtree(root / subdir / "shards")


def mirror_once(url: str, target: Path) -> float:
    from condafarm import MirrorSpec, mirror_channel, parse_channel

    spec = MirrorSpec.checked(url, ["renderapp"], ["linux-64", "win-64"])
    started = time.monotonic()
    mirror_channel(parse_channel(str(target)), spec)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="condafarm-mirror-bench-"))
    try:
        print(f"upstream: {args.records} records + the closure of renderapp (linux-64, win-64)")
        rows = []
        for case, shards in (("shards", True), ("repodata.json", False)):
            upstream = work / f"upstream-{case}"
            build_upstream(upstream, args.records, shards)
            json_bytes = sum((upstream / s / "repodata.json").stat().st_size for s in ("noarch", "linux-64", "win-64"))
            zst_bytes = sum(
                (upstream / s / "repodata.json.zst").stat().st_size for s in ("noarch", "linux-64", "win-64")
            )
            runs, rerun_runs = [], []
            for n in range(args.repeat):
                tally, again = Tally(), Tally()
                target = work / f"farm-{case}-{n}"
                with counting_server(upstream, tally) as url:
                    runs.append((mirror_once(url, target), tally))
                with counting_server(upstream, again) as url:
                    rerun_runs.append((mirror_once(url, target), again))
            rows.append((case, runs))
            if shards:
                rows.append(("rerun (shards)", rerun_runs))
            print(f"  {case}: repodata.json {json_bytes:,} B, repodata.json.zst {zst_bytes:,} B over 3 subdirs")
        print(f"{'case':<16} {'meta req':>8} {'meta bytes':>12} {'files':>6} {'file bytes':>11} {'seconds':>8}")
        for case, runs in rows:
            requests, meta = runs[0][1].metadata()
            files, file_bytes = runs[0][1].packages()
            seconds = statistics.median(s for s, _ in runs)
            print(f"{case:<16} {requests:>8} {meta:>12,} {files:>6} {file_bytes:>11,} {seconds:>8.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
