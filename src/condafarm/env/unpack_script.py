"""Run inside an environment unpacked from `condafarm env pack` to make it work where it now lives:

    python condafarm-unpack.py

Standard library only: it runs on hosts with no condafarm. It rewrites the old prefix in the files packages
marked as holding it (text files: every occurrence; binary files: NUL-padded C strings, as conda does, so
the new path must not be longer than the old one) and records the new prefix, so the folder can move again.
"""

from __future__ import annotations

import json
import os
import re
import sys

RELOCATE = os.path.join(".condafarm", "relocate.json")


def _replace_binary(data: bytes, old: bytes, new: bytes, path: str) -> bytes:
    if len(new) > len(old):
        raise SystemExit(f"{path}: binary files need a prefix no longer than {len(old)} characters; unpack closer to /")

    def padded(match: re.Match[bytes]) -> bytes:
        return new + match.group(1) + b"\0" * (len(old) - len(new) + 1)

    return re.sub(re.escape(old) + b"([^\0]*?)\0", padded, data)


def relocate(root: str) -> int:
    """Rewrite the recorded prefix to `root` in every marked file; returns how many files changed."""
    with open(os.path.join(root, RELOCATE), encoding="utf-8") as f:
        info = json.load(f)
    old_prefix, new_prefix = info["prefix"], root
    pairs = {(old_prefix, new_prefix), (old_prefix.replace("\\", "/"), new_prefix.replace("\\", "/"))}
    changed = 0
    real_root = os.path.realpath(root)
    for relative, mode in info["files"]:
        path = os.path.join(root, relative)
        if os.path.islink(path) or os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
            continue  # never write through a symlink, nor outside the environment
        with open(path, "rb") as f:
            data = f.read()
        result = data
        for old, new in pairs:
            if mode == "text":
                result = result.replace(old.encode(), new.encode())
            else:
                result = _replace_binary(result, old.encode(), new.encode(), relative)
        if result != data:
            stat = os.stat(path)
            os.chmod(path, stat.st_mode | 0o200)
            with open(path, "wb") as f:
                f.write(result)
            os.chmod(path, stat.st_mode)
            changed += 1
    info["prefix"] = new_prefix
    with open(os.path.join(root, RELOCATE), "w", encoding="utf-8") as f:
        json.dump(info, f)
    return changed


def main() -> None:
    root = os.path.dirname(os.path.abspath(__file__))
    changed = relocate(root)
    print(f"relocated {changed} file(s) to {root}")


if __name__ == "__main__":
    main()
    sys.exit(0)
