from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.channels import place_files
from support.cli import run_cli
from support.packages import make_package

import condafarm.channel.build_number as build_number_module
from condafarm import Channel, index_channel, init_channel, parse_channel, publish
from condafarm.channel.build_number import (
    RESERVATION_DIR,
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


@pytest.fixture
def filled(channel: Channel, tmp_path: Path) -> Channel:
    """A channel holding `_fill`'s packages, in a folder or on the local S3 endpoint."""
    _fill(tmp_path / "staging")
    place_files(channel, tmp_path / "staging")
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


def test_a_reservation_a_crashed_job_left_is_skipped_never_taken_over(tmp_path: Path) -> None:
    """However old a reservation looks, its number is not handed out again: its writer's clock may be days
    behind ours, so only a gap is safe."""
    folder = tmp_path / "channel"
    channel = parse_channel(str(folder))
    crashed = reserve_build_number(channel, "tool", "1.0", "noarch")
    key = folder / crashed.key
    body = json.loads(key.read_text())
    key.write_text(json.dumps({**body, "created": 0, "expires": 0}))  # written by a host whose clock says 1970
    taken = reserve_build_number(channel, "tool", "1.0", "noarch")
    assert taken.number == crashed.number + 1
    assert json.loads(key.read_text())["created"] == 0, "the crashed job's reservation was overwritten"
    taken.release()
    assert (folder / crashed.key).exists() and not (folder / taken.key).exists()


def test_a_number_published_while_reserving_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job publishes N and releases its reservation after our first look but before our reservation:
    only the re-read after reserving sees N, so we must come out with N + 1."""
    folder = tmp_path / "channel"
    channel = parse_channel(str(folder))
    init_channel(channel)
    original = build_number_module._reservation_body
    published: list[int] = []

    def publish_first(name: str, version: str, subdir: str, number: int) -> bytes:
        if not published:
            # the other job: it reserved `number`, built, published and released, all while we were between
            # reading the repodata and writing our reservation
            publish(channel, [make_package(tmp_path / "other", name, version, number)])
            published.append(number)
        return original(name, version, subdir, number)

    monkeypatch.setattr(build_number_module, "_reservation_body", publish_first)
    reservation = reserve_build_number(channel, "tool", "1.0", "noarch")
    assert published == [1], "the other job's publish never ran between the first read and the reservation"
    assert reservation.number == 2
    assert sorted(p.name for p in (folder / "noarch" / RESERVATION_DIR).iterdir()) == ["tool-1.0-2.json"]


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
