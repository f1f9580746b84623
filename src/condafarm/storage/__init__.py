"""Storage behind a channel: get, put-if-absent, put-if-match, list, delete, ranged reads.

`Storage` is the only interface the channel engine talks to; `local.py` and `s3/` implement it and `s3/` is the
only place that uses boto3. What a store can do beyond the contract is said by named capabilities
(`cheap_reads`, `read_threads`, `keeps_object_metadata`, `can_copy_from`), never probed. Compare-and-swap writes
go through `cas.py`. Keys are relative to the channel root (`linux-64/x.conda`); one that could leave it is refused
by every implementation (`location.check_key`). tests/test_storage_contract.py states the contract on every backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .contract import Blob, Leftover, ObjectInfo, ObjectReader, Storage

if TYPE_CHECKING:
    from .location import Channel


def open_storage(channel: Channel | Storage) -> Storage:
    """The storage for `channel`: a folder or an S3 bucket (a storage already open is used as it is)."""
    if isinstance(channel, Storage):
        return channel
    if channel.is_s3:
        from .s3 import S3Storage

        storage = S3Storage(channel)
        storage.single_writer = channel.s3 is not None and channel.s3.single_writer
        return storage
    from .local import LocalStorage

    return LocalStorage(channel)


__all__ = ["Blob", "Leftover", "ObjectInfo", "ObjectReader", "Storage", "open_storage"]
