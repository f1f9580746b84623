"""What the benchmark's modules share: paths, the channel layout, and the environment of its child processes.

Importing it puts the repository's `tests` folder on `sys.path`, as pytest's `pythonpath = ["tests"]` does, so
that the benchmark uses the same helpers as the tests (`support.moto`, `support.packages`, `support.proxy`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from support.aws import offline_env  # noqa: E402  (needs the path above)

SUBDIRS = ("noarch", "linux-64", "win-64")
PREFIX = "channel"  # key prefix of the channel inside each bucket

#: condafarm always writes CEP-16 shards next to repodata.json; the peer is asked to write them too, so both
#: produce the same files (`--peer-without-shards` lets the peer skip them).
PEER_SHARDS = os.environ.get("CONDAFARM_BENCH_PEER_SHARDS", "1") == "1"


def child_env() -> dict[str, str]:
    """The environment of moto and of every measured child: offline AWS settings, quiet Rust logging."""
    env = offline_env(os.environ)
    env["AWS_REGION"] = "us-east-1"
    env.setdefault("RUST_LOG", "error")
    return env
