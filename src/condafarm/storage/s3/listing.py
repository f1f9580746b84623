"""Listing a channel's folders with ListObjectsV2, each page's objects read with ElementTree.

A folder is listed in pages of `PAGE_KEYS` entries, one request each, which makes listing the floor of a no-op
index of a large subdir. Where the caller knows the keys an earlier listing found (the index knows its subdir's
packages), the folder is cut at them into ranges of at most a page, listed at once, each after the last known key
of the range before (`StartAfter`): as many requests as a listing page by page when nothing changed, one more
for each range that grew past a page, and the same objects in the same order whatever the known keys are.
"""

from __future__ import annotations

import datetime
import re
import threading
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_plus
from xml.etree import ElementTree

from ..contract import ObjectInfo
from ..location import Channel
from .errors import translated

#: Entries (keys and sub-folders) a listing page holds: S3's largest MaxKeys. Tests set less for small folders.
PAGE_KEYS = 1000

#: A listing page's object entries, which `_take_listing` reads itself.
_CONTENTS = re.compile(rb"<Contents>.*?</Contents>", re.S)


def split_points(known: Collection[str], folder: str) -> list[str]:
    """Keys to start ranges after, from the keys known directly in `folder` (full keys): they cut the known keys
    into as many ranges as they fill pages, of even sizes so that each range has room for keys not known.

    Sub-folders are never split points: a listing after a key inside one would list that folder again.
    """
    keys = sorted({k for k in known if k.startswith(folder) and "/" not in k[len(folder) :]})
    ranges = -(-len(keys) // PAGE_KEYS)
    return [keys[len(keys) * i // ranges - 1] for i in range(1, ranges)]


def _last_entry(page: dict[str, Any]) -> str:
    """A page's last key or sub-folder: they come in one order, so the larger of the last of each."""
    keys = [obj["Key"] for obj in page["Contents"][-1:]]
    return max(keys + [common["Prefix"] for common in page.get("CommonPrefixes", [])[-1:]], default="")


def _seconds(value: str | datetime.datetime | None) -> float | None:
    """Epoch seconds of a listed LastModified (ISO 8601 as read here, a datetime where botocore parsed the page);
    None for one missing or unreadable: an object's age is then unknown, never made up."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    return None if when is None or when.tzinfo is None else when.timestamp()


class Listing:
    """The objects and folders under a channel folder, through `client` (whose listing parser it replaces)."""

    def __init__(self, client: Any, channel: Channel, bucket: str, threads: int) -> None:
        self._client = client
        self._channel = channel
        self._bucket = bucket
        self._threads = threads
        self._listed = threading.local()
        client.meta.events.register("before-parse.s3.ListObjectsV2", self._take_listing)

    def objects(self, prefix: str, known: Collection[str] = ()) -> Iterator[ObjectInfo]:
        """Objects directly under `prefix`, keys relative to the channel root; `known` as in `Storage.list_objects`."""
        strip = len(self._channel.prefix) + 1 if self._channel.prefix else 0
        folder = self.folder(prefix)
        splits = split_points({self._channel.key(k) for k in known}, folder)
        ranges: list[Iterable[dict[str, Any]]]
        if splits:
            bounds = list(zip([None, *splits], [*splits, None], strict=True))
            with ThreadPoolExecutor(min(len(bounds), self._threads)) as pool:
                ranges = list(pool.map(lambda b: list(self._objects(folder, *b)), bounds))
        else:
            ranges = [self._objects(folder, None, None)]
        for listed in ranges:
            for obj in listed:
                # A key that is the folder itself is a folder marker, no object in it: what S3 consoles create
                # for an empty folder, and what SeaweedFS lists for a folder whose last object was deleted.
                if obj["Key"] != folder:
                    modified = _seconds(obj.get("LastModified"))
                    yield ObjectInfo(key=obj["Key"][strip:], size=obj["Size"], etag=obj["ETag"], modified=modified)

    def dirs(self, prefix: str) -> list[str]:
        """Names of the folders directly under `prefix`, sorted."""
        folder = self.folder(prefix)
        return sorted(
            common["Prefix"][len(folder) :].rstrip("/")
            for page in self._pages(folder, None, None)
            for common in page.get("CommonPrefixes", ())
        )

    def folder(self, prefix: str) -> str:
        """The full key prefix, ending in `/`, of a folder inside the channel (`""` is the channel root)."""
        full = self._channel.key(prefix.strip("/")) if prefix.strip("/") else self._channel.prefix
        return f"{full}/" if full else ""

    def _objects(self, folder: str, after: str | None, until: str | None) -> Iterator[dict[str, Any]]:
        """The objects of `folder` after key `after` up to key `until` included (None: from the start, to the end)."""
        for page in self._pages(folder, after, until):
            yield from (obj for obj in page["Contents"] if until is None or obj["Key"] <= until)

    def _pages(self, folder: str, after: str | None, until: str | None) -> Iterator[dict[str, Any]]:
        """Pages of `folder` from after `after`, until one that reaches past `until` (None: to the last page)."""
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": folder, "Delimiter": "/", "MaxKeys": PAGE_KEYS}
        if after is not None:
            args["StartAfter"] = after
        with translated(self._channel, "ListObjectsV2", None):
            while True:
                page = self._client.list_objects_v2(**args)
                page["Contents"] = self._listed.__dict__.pop("contents", page.get("Contents") or [])
                yield page
                if not page.get("IsTruncated") or (until is not None and _last_entry(page) >= until):
                    return
                args.pop("StartAfter", None)
                args["ContinuationToken"] = page["NextContinuationToken"]

    def _take_listing(self, response_dict: dict[str, Any], **_: Any) -> None:
        """Read a listing page's objects with ElementTree before botocore parses the page.

        botocore's response parser spends ~150 us per listed object (dates, owners, storage classes we never
        use): half the time of a no-op index of 2000 packages. This keeps Key, Size, ETag and LastModified, and hands
        botocore the page without its `<Contents>` so it parses only the rest (continuation token, prefixes).
        """
        body = response_dict.get("body")
        if response_dict.get("status_code") != 200 or not body:
            return
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            return  # let botocore report it
        # botocore asks for url-encoded keys (EncodingType=url) and decodes them as it parses; so do we.
        encoded = root.findtext("{*}EncodingType") == "url"
        self._listed.contents = [
            {
                "Key": unquote_plus(key) if encoded else key,
                "Size": int(c.findtext("{*}Size") or 0),
                "ETag": c.findtext("{*}ETag"),
                "LastModified": c.findtext("{*}LastModified"),
            }
            for c in root.iterfind("{*}Contents")
            for key in [c.findtext("{*}Key") or ""]
        ]
        response_dict["body"] = _CONTENTS.sub(b"", body)
