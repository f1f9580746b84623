"""An upstream channel for `condafarm mirror` tests and bench/: real packages with a dependency graph across
noarch, linux-64 and win-64 among many unrelated names, indexed (with CEP-16 shards, or without), and a plain HTTP
server on 127.0.0.1 that serves it and records every request path."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from condafarm import index_channel, parse_channel
from support.packages import make_package

#: The closure of `renderapp` on linux-64 with the default virtual packages (glibc 2.28).
LINUX_CLOSURE = {
    "noarch/renderapp-2.0-h0_0.conda",
    "noarch/pyshim-1.0-h0_0.conda",
    "linux-64/libcore-1.1-h0_0.conda",
    "linux-64/libz-1.3-h0_0.conda",
}
#: ... and on win-64.
WIN_CLOSURE = {
    "noarch/renderapp-2.0-h0_0.conda",
    "noarch/pyshim-1.0-h0_0.conda",
    "win-64/libcore-1.1-h0_0.conda",
    "win-64/libz-1.3-h0_0.conda",
}


def make_upstream(root: Path, *, fillers: int = 200, shards: bool = True) -> Path:
    """The upstream channel folder: `renderapp` (noarch, a command that prints its name) needs `pyshim` and
    `libcore`, which needs `libz`; linux-64's newest `libcore` needs glibc 2.34. `fillers` names nobody needs."""
    make_package(root, "renderapp", "1.0", depends=["libcore", "pyshim"], script=True)
    make_package(root, "renderapp", "2.0", depends=["libcore >=1.1", "pyshim"], script=True)
    make_package(root, "pyshim", "1.0", license="BSD-3-Clause")
    for subdir in ("linux-64", "win-64"):
        make_package(root, "libz", "1.3", subdir=subdir, license="Zlib")
        make_package(root, "libcore", "1.0", subdir=subdir, depends=["libz"])
        make_package(root, "libcore", "1.1", subdir=subdir, depends=["libz >=1.3"])
    make_package(root, "libcore", "1.2", subdir="linux-64", depends=["libz >=1.3", "__glibc >=2.34"])
    make_package(root, "gplthing", "1.0", license="GPL-3.0-only")
    for i in range(fillers):
        make_package(root, f"filler{i}", "1.0", subdir=("noarch", "linux-64", "win-64")[i % 3])
    reindex(root, shards=shards)
    return root


def reindex(root: Path, *, shards: bool = True) -> None:
    """Index the upstream folder as its publisher would; `shards=False` leaves only repodata.json (and .zst)."""
    shutil.rmtree(root / ".staging", ignore_errors=True)
    index_channel(parse_channel(str(root)))
    if not shards:
        for subdir in root.iterdir():
            (subdir / "repodata_shards.msgpack.zst").unlink(missing_ok=True)
            shutil.rmtree(subdir / "shards", ignore_errors=True)


@dataclass
class Served:
    """An HTTP server on 127.0.0.1 serving a folder; `paths` are the request paths it answered, in order."""

    url: str
    server: http.server.ThreadingHTTPServer
    paths: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def serve(root: Path) -> Iterator[Served]:
    """Serve `root` over HTTP on 127.0.0.1 until the block ends (or `stop()`)."""
    paths: list[str] = []
    lock = threading.Lock()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            with lock:
                paths.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served = Served(f"http://127.0.0.1:{server.server_port}", server, paths)
    try:
        yield served
    finally:
        if thread.is_alive():
            served.stop()
