"""A folder listed in ranges cut at known keys (storage/s3/listing.py) holds exactly what a listing page by page
holds, whatever changed since the keys were known, in as many ListObjectsV2 requests when nothing changed and at
most one more per range that grew past a page; the index passes its known keys (channel/index.py `_snapshot`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from support.packages import make_package
from support.proxy import S3Proxy
from support.s3 import S3Endpoint, new_bucket, upload_dir

from condafarm import S3Options, index_channel, parse_channel
from condafarm.storage import open_storage
from condafarm.storage.location import Channel
from condafarm.storage.s3 import listing
from condafarm.storage.s3.listing import split_points

#: The page size of the tests here, so that a few dozen objects fill several pages.
PAGE = 20
#: Known keys of the range cases: three ranges of 16, 17 and 17 keys at `PAGE`, split after keys 15 and 32.
KNOWN = 50
#: What makes the names odd: S3 must get them back from StartAfter and url-encoded listings unchanged.
ODD = ["", " space", "$dollar", "-ü-日本", "+plus", "%25pct", "~tilde"]


def _name(i: int, tail: str = "") -> str:
    return f"pkg{i:04d}{tail}{ODD[i % len(ODD)]}.conda"


#: What each case changes after the keys were known: (deleted, added) names, and the requests it costs.
CHANGES: dict[str, tuple[list[str], list[str], int]] = {
    "nothing": ([], [], 3),
    # the split points themselves and the first and last keys, gone
    "deleted": ([_name(0), _name(15), _name(32), _name(40), _name(KNOWN - 1)], [], 3),
    "added before": ([], [f"aaa{i}.conda" for i in range(3)], 3),
    # 10 more in the second range: 27 entries there, one page more
    "added inside": ([], [_name(20, f"-{i:02d}") for i in range(10)], 4),
    # the last range runs to the end: 17 keys, 2 index files, 1 added fill its page
    "added after": ([], ["zzz ü.conda"], 3),
    "all of it": (
        [_name(15), _name(25)],
        [f"aaa{i}.conda" for i in range(2)] + [_name(20, f"-{i:02d}") for i in range(10)] + ["zzz.conda"],
        4,
    ),
}


@pytest.fixture
def proxy(s3: S3Endpoint) -> Iterator[S3Proxy]:
    proxy = S3Proxy(s3.port)
    yield proxy
    proxy.stop()


@pytest.fixture(params=["moto", "seaweedfs"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[S3Endpoint, str, S3Proxy]]:
    """An S3 server, a new bucket on it and a counting proxy in front of it: moto and a production server, as
    ranges rely on how a store pages, starts after a key and counts sub-folders in a page."""
    endpoint: S3Endpoint = request.getfixturevalue("s3" if request.param == "moto" else "seaweedfs")
    proxy = S3Proxy(endpoint.port)
    yield endpoint, new_bucket(endpoint.client(), "ranges"), proxy
    proxy.stop()


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "PAGE_KEYS", PAGE)


def _channel(proxy: S3Proxy, url: str) -> Channel:
    return parse_channel(url, S3Options(endpoint_url=proxy.url, region="us-east-1", addressing_style="path"))


def _in_threads(action: Callable[[str], Any], keys: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(action, keys))


def _put(s3: S3Endpoint, bucket: str, keys: list[str]) -> None:
    """Tiny objects, each with its own size and ETag."""
    client = s3.client(max_pool_connections=8)
    _in_threads(lambda key: client.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys)


def _delete(s3: S3Endpoint, bucket: str, keys: list[str]) -> None:
    client = s3.client(max_pool_connections=8)
    _in_threads(lambda key: client.delete_object(Bucket=bucket, Key=key), keys)


def _page_by_page(s3: S3Endpoint, bucket: str, folder: str, strip: int) -> list[tuple[str, int, str]]:
    """The objects directly in `folder` as boto3's own paginator lists them, keys relative to the channel."""
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder, Delimiter="/")
    return [(o["Key"][strip:], o["Size"], o["ETag"]) for page in pages for o in page.get("Contents", ())]


def _lists(proxy: S3Proxy) -> list[dict[str, list[str]]]:
    """The query of every ListObjectsV2 request through the proxy, once all of them are logged."""
    found = [parse_qs(urlsplit(e.request.path).query) for e in proxy.settled() if e.request.op == "ListObjectsV2"]
    assert len(found) == proxy.tally.ops["ListObjectsV2"], (len(found), proxy.tally.ops)
    return found


def test_split_points_cut_the_known_keys_of_the_folder_into_even_ranges_of_at_most_a_page() -> None:
    keys = [f"c/noarch/{i:04d}.conda" for i in range(2500)]
    others = ["c/noarch/.condafarm/index-state.json", "c/noarch/shards/0.msgpack.zst", "c/linux-64/x.conda"]
    assert split_points([*reversed(keys), *others], "c/noarch/") == [keys[832], keys[1665]]
    assert split_points(keys[:1000] + others, "c/noarch/") == []
    assert split_points(keys[:1001], "c/noarch/") == [keys[499]]


@pytest.mark.usefixtures("small_pages")
@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("prefix", ["Conda/Default", ""])
def test_ranges_list_exactly_what_a_listing_page_by_page_lists_after_any_change(
    store: tuple[S3Endpoint, str, S3Proxy], prefix: str, change: str
) -> None:
    s3, bucket, proxy = store
    root = f"{prefix}/" if prefix else ""
    known = [f"linux-64/{_name(i)}" for i in range(KNOWN)]
    deleted, added, expected_requests = CHANGES[change]
    extras = ["linux-64/.condafarm/index-state.json", "linux-64/repodata.json", "linux-64/shards/a.msgpack.zst"]
    # folders whose names start like the listed one stay out of its listing
    _put(s3, bucket, [root + k for k in [*known, *extras, "linux-64-extra/x.conda", "linux-6/y.conda"]])
    _delete(s3, bucket, [f"{root}linux-64/{n}" for n in deleted])
    _put(s3, bucket, [f"{root}linux-64/{n}" for n in added])
    storage = open_storage(_channel(proxy, f"s3://{bucket}/{prefix}"))

    listed = [(i.key, i.size, i.etag) for i in storage.list_objects("linux-64/", known=known)]

    expected = _page_by_page(s3, bucket, f"{root}linux-64/", len(root))
    assert listed == expected
    assert len({key for key, _, _ in listed}) == len(listed), "a key listed twice"
    requests = _lists(proxy)
    assert len(requests) == expected_requests
    firsts = sorted(q.get("start-after", [""])[0] for q in requests if "continuation-token" not in q)
    assert firsts == ["", f"{root}linux-64/{_name(15)}", f"{root}linux-64/{_name(32)}"], "not three ranges at once"


@pytest.mark.usefixtures("small_pages")
def test_without_known_keys_a_folder_is_listed_page_by_page(s3: S3Endpoint, bucket: str, proxy: S3Proxy) -> None:
    _put(s3, bucket, [f"noarch/{_name(i)}" for i in range(KNOWN)])
    storage = open_storage(_channel(proxy, f"s3://{bucket}"))

    assert [i.key for i in storage.list_objects("noarch/")] == [f"noarch/{_name(i)}" for i in range(KNOWN)]
    assert [q.get("start-after") for q in _lists(proxy)] == [None, None, None]


@pytest.mark.usefixtures("small_pages")
def test_a_no_op_index_lists_its_subdir_in_ranges_in_as_many_requests_as_pages(
    s3: S3Endpoint, bucket: str, proxy: S3Proxy, tmp_path: Path
) -> None:
    for i in range(40):
        make_package(tmp_path / "channel", f"pkg{i % 13}", f"1.{i}", payload=str(i))
    upload_dir(s3, bucket, "Conda/Default", tmp_path / "channel")
    channel = _channel(proxy, f"s3://{bucket}/Conda/Default")
    index_channel(channel)
    pages = (
        s3.client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix="Conda/Default/noarch/", Delimiter="/")
    )
    entries = sum(len(page.get("Contents", [])) + len(page.get("CommonPrefixes", [])) for page in pages)
    proxy.settled()
    proxy.log.clear()
    proxy.tally.reset()

    report = index_channel(channel)

    assert report.total("unchanged") == 40 and not report.total("added")
    subdir = [q for q in _lists(proxy) if q["prefix"] == ["Conda/Default/noarch/"]]
    assert len(subdir) == math.ceil(entries / PAGE) == 3
    assert sum("start-after" in q for q in subdir) == 2, "not listed in three ranges"
