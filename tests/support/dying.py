"""`condafarm` in a process that dies at a chosen write, as a host losing power there would: no clean-up runs.

usage: python tests/support/dying.py before|after KEY_SUFFIX [N] -- CONDAFARM_ARGS...
       python tests/support/dying.py rmtree NAME -- CONDAFARM_ARGS...

The process exits with `DIED` at once, before (or right after) its Nth write (put or delete, default the first)
of a key ending in KEY_SUFFIX, on a folder or S3 channel alike; or, with `rmtree`, in the middle of the first
folder it deletes that holds NAME: right after NAME is gone, the rest still there.
"""

from __future__ import annotations

import os
import sys
from typing import Any

DIED = 86


def _dying(method: Any, when: str, suffix: str, nth: int, seen: list[int]) -> Any:
    """`method` (a put or delete) counting, in `seen` (shared by all of them), the writes of keys ending so."""

    def wrapper(self: Any, key: str, *args: Any, **kwargs: Any) -> Any:
        hit = key.endswith(suffix)
        if hit:
            seen[0] += 1
        if hit and seen[0] == nth and when == "before":
            os._exit(DIED)
        result = method(self, key, *args, **kwargs)
        if hit and seen[0] == nth:
            os._exit(DIED)
        return result

    return wrapper


def _dying_rmtree(rmtree: Any, name: str) -> Any:
    """`shutil.rmtree` that, in a folder holding `name`, deletes only that, then exits."""

    def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
        if os.path.lexists(os.path.join(path, name)):
            rmtree(os.path.join(path, name))
            os._exit(DIED)
        return rmtree(path, *args, **kwargs)

    return wrapper


def main(argv: list[str]) -> None:
    split = argv.index("--")
    when, suffix, *rest = argv[:split]
    nth = int(rest[0]) if rest else 1
    from condafarm.cli import main as condafarm_main

    if when == "rmtree":
        import shutil

        shutil.rmtree = _dying_rmtree(shutil.rmtree, suffix)  # type: ignore[assignment]
        condafarm_main(argv[split + 1 :])
        return
    from condafarm.storage.local import LocalStorage
    from condafarm.storage.s3.storage import S3Storage

    seen = [0]
    for cls in (LocalStorage, S3Storage):
        for name in ("put", "delete"):
            setattr(cls, name, _dying(getattr(cls, name), when, suffix, nth, seen))
    condafarm_main(argv[split + 1 :])


if __name__ == "__main__":
    main(sys.argv[1:])
