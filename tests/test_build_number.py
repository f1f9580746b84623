from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.cli import run_cli
from support.packages import make_package
from support.s3 import S3Endpoint, upload_dir

from condafarm import Channel, index_channel, parse_channel
from condafarm.channel.build_number import (
    BuildNumber,
    highest_build_number,
    next_build_number,
    reservation_key,
    reserve_build_number,
)
from condafarm.errors import UsageError
from condafarm.storage import open_storage


def _fill(folder: Path) -> None:
    """tool 1.0 builds 0, 3 (noarch) and 5 (linux-64); tool 2.0 build 9; other 1.0 build 7."""
    make_package(folder, "tool", "1.0", 0)
    make_package(folder, "tool", "1.0", 3)
    make_package(folder, "tool", "1.0", 5, subdir="linux-64")
    make_package(folder, "tool", "2.0", 9)
    make_package(folder, "other", "1.0", 7)


@pytest.fixture(params=["folder", "s3"])
def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Channel:
    """A channel holding `_fill`'s packages, in a folder or on the local S3 endpoint."""
    if request.param == "folder":
        _fill(tmp_path / "channel")
        channel = parse_channel(str(tmp_path / "channel"))
    else:
        s3: S3Endpoint = request.getfixturevalue("s3")
        channel = request.getfixturevalue("s3_channel")
        _fill(tmp_path / "staging")
        upload_dir(s3, str(channel.bucket), channel.prefix, tmp_path / "staging")
    index_channel(channel)
    return channel


def test_highest_counts_the_subdir_and_noarch_but_only_that_name_and_version(filled: Channel) -> None:
    assert highest_build_number(filled, "tool", "1.0", "linux-64") == 5
    assert highest_build_number(filled, "tool", "1.0", "win-64") == 3
    assert highest_build_number(filled, "tool", "1.0", "noarch") == 3
    assert highest_build_number(filled, "tool", "3.0", "noarch") is None
    assert next_build_number(filled, "tool", "1.0", "linux-64") == 6
    assert next_build_number(filled, "tool", "1.0", "noarch", increment=4) == 7


def test_an_empty_or_missing_channel_counts_as_highest_zero(tmp_path: Path) -> None:
    missing = parse_channel(str(tmp_path / "nothing-here"))
    assert next_build_number(missing, "tool", "1.0", "noarch") == 1
    assert next_build_number(missing, "tool", "1.0", "noarch", increment=0) == 0
    assert not (tmp_path / "nothing-here").exists()


def test_build_number_flag_parses_relative_and_absolute() -> None:
    assert BuildNumber.parse("+2") == BuildNumber(2, relative=True)
    assert BuildNumber.parse("7") == BuildNumber(7, relative=False)
    for bad in ("-1", "+", "one", "1.5"):
        with pytest.raises(UsageError, match="must be N"):
            BuildNumber.parse(bad)


def test_reservations_hand_out_the_next_free_number_and_release_frees_it(filled: Channel) -> None:
    first = reserve_build_number(filled, "tool", "1.0", "noarch")
    second = reserve_build_number(filled, "tool", "1.0", "noarch")
    assert (first.number, second.number) == (4, 5)
    storage = open_storage(filled)
    assert storage.head(reservation_key("tool", "1.0", "noarch", 4)) is not None
    first.release()
    assert storage.head(reservation_key("tool", "1.0", "noarch", 4)) is None
    assert reserve_build_number(filled, "tool", "1.0", "noarch").number == 4


def test_an_expired_reservation_lapses_and_its_number_is_reused(tmp_path: Path) -> None:
    channel = parse_channel(str(tmp_path / "channel"))
    crashed = reserve_build_number(channel, "tool", "1.0", "noarch", ttl=0.2)
    assert reserve_build_number(channel, "tool", "1.0", "noarch").number == crashed.number + 1
    time.sleep(0.3)
    taken = reserve_build_number(channel, "tool", "1.0", "noarch")
    assert taken.number == crashed.number
    crashed.release()  # the crashed job coming back must not remove the new owner's reservation
    body = json.loads((tmp_path / "channel" / taken.key).read_text())
    assert body["build_number"] == taken.number and body["expires"] > time.time()


def test_a_number_published_while_reserving_is_skipped(tmp_path: Path) -> None:
    """A job that published N and released its reservation just before ours: we must not take N."""
    folder = tmp_path / "channel"
    channel = parse_channel(str(folder))
    storage = open_storage(channel)
    make_package(folder, "tool", "1.0", 1)
    # the repodata still says "nothing", as it did when this job first looked
    storage.put("noarch/repodata.json", b'{"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": {}}')
    first_look = next_build_number(channel, "tool", "1.0", "noarch")
    index_channel(channel)
    assert first_look == 1
    assert reserve_build_number(channel, "tool", "1.0", "noarch").number == 2


def test_concurrent_reservations_get_distinct_numbers(filled: Channel) -> None:
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda _: reserve_build_number(filled, "tool", "2.0", "noarch").number, range(8)))
    assert sorted(numbers) == list(range(10, 18))


def test_cli_next_build_number(tmp_path: Path) -> None:
    folder = tmp_path / "channel"
    _fill(folder)
    index_channel(parse_channel(str(folder)))
    result = run_cli("next-build-number", str(folder), "tool", "1.0", "--subdir", "linux-64", "--increment", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7"
    result = run_cli("next-build-number", str(folder), "tool", "1.0", "--subdir", "linux-99")
    assert result.returncode == 2 and "unknown subdir" in result.stderr
