"""Package files already in the channel that no record names: whether one holds given bytes, whether it is whole.

A publisher that died after its upload, or one that is publishing the same file right now, leaves such files;
publish adopts them (indexes them) only when their bytes are exactly what a record says.
"""

from __future__ import annotations

from typing import Any

from ...conda.package import hash_file
from ...storage import ObjectInfo, Storage


def holds(storage: Storage, head: ObjectInfo, sha256: str) -> bool:
    """Whether the object `head` describes has exactly the bytes with `sha256`: from the hash it was uploaded with
    where the store keeps it, else by hashing the object (a folder's file, another tool's upload)."""
    recorded = head.metadata.get("package-sha256")
    if recorded is not None:
        return recorded == sha256
    with storage.stream(head) as f:
        return hash_file(f).sha256 == sha256


def complete(storage: Storage, subdir: str, filename: str, record: dict[str, Any]) -> bool:
    """Whether another publisher's file is fully uploaded: present with its record's size and sha256.

    Uploads land atomically (S3 PUT, or a rename locally), so a present file is a whole file.
    """
    head = storage.head(f"{subdir}/{filename}")
    if head is None or head.size != record.get("size"):
        return False
    return holds(storage, head, str(record.get("sha256")))


__all__ = ["complete", "holds"]
