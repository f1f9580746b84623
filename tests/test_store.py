"""store: an unreadable repodata.json is reported, refused before uploading, and rebuilt from the files; a publish
interrupted after its upload is finished by publishing again; check says why index skips a file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.cli import run_cli
from support.packages import make_package

from condafarm import Channel, check_channel, index_channel, parse_channel, publish
from condafarm.channel.commit.store import load_repodata
from condafarm.errors import AlreadyExists, InvalidRepodata
from condafarm.storage import open_storage

BAD_REPODATA = {
    "not json": b"{not json",
    "a list": b"[]",
    "null": b"null",
    "a record that is a string": json.dumps({"packages.conda": {"x-1-0.conda": "oops"}}).encode(),
    "records that are a list": json.dumps({"packages": []}).encode(),
    "removed that is a string": json.dumps({"packages": {}, "removed": "x-1-0.conda"}).encode(),
    "a version that is a number": json.dumps(
        {"packages.conda": {"x-1-0.conda": {"name": "x", "version": 1, "build": "0", "build_number": 0}}}
    ).encode(),
}


@pytest.fixture(params=sorted(BAD_REPODATA))
def broken(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Channel, Path]:
    """A folder channel with one indexed package whose noarch/repodata.json was then overwritten with junk."""
    root = tmp_path / "channel"
    make_package(root, "good", "1.0")
    index_channel(parse_channel(str(root)))
    (root / "noarch" / "repodata.json").write_bytes(BAD_REPODATA[request.param])
    return parse_channel(str(root)), root


def test_check_reports_an_unreadable_repodata_json_with_exit_7(broken: tuple[Channel, Path]) -> None:
    channel, root = broken
    report = check_channel(channel)
    assert not report.ok
    assert any("noarch/repodata.json" in p and "index --rebuild" in p for p in report.problems)
    result = run_cli("check", str(root))
    assert result.returncode == 7, result.stderr
    assert "Traceback" not in result.stderr


def test_ls_of_an_unreadable_repodata_json_is_one_line_not_a_crash(broken: tuple[Channel, Path]) -> None:
    _, root = broken
    result = run_cli("ls", str(root))
    assert result.returncode == 7
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "index --rebuild" in result.stderr


def test_index_rebuild_rebuilds_from_the_files_whatever_repodata_json_holds(broken: tuple[Channel, Path]) -> None:
    channel, root = broken
    with pytest.raises(InvalidRepodata):
        index_channel(channel)
    result = run_cli("index", "--rebuild", str(root))
    assert result.returncode == 0, result.stderr
    repodata, _ = load_repodata(open_storage(channel), "noarch")
    assert sorted(repodata.records()) == ["good-1.0-h0_0.conda"]
    assert check_channel(channel).ok


def test_publish_into_an_unreadable_repodata_fails_before_uploading(broken: tuple[Channel, Path]) -> None:
    _, root = broken
    before = sorted(p.name for p in (root / "noarch").iterdir())
    package = make_package(root.parent / "staging", "newcomer", "1.0")
    result = run_cli("publish", str(package), "--to", str(root))
    assert result.returncode == 7, result.stderr
    assert sorted(p.name for p in (root / "noarch").iterdir()) == before


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_publishing_again_finishes_a_publish_that_died_after_its_upload(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    channel = parse_channel(str(tmp_path / "channel")) if where == "folder" else request.getfixturevalue("s3_channel")
    storage = open_storage(channel)
    publish(channel, [make_package(tmp_path / "a", "other", "1.0")])
    package = make_package(tmp_path / "b", "tool", "2.0")
    # What a publisher killed between its upload and its index update leaves behind: the object, no record.
    data = package.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    storage.upload(
        f"noarch/{package.name}",
        package,
        sha256=sha,
        md5=hashlib.md5(data).hexdigest(),
        if_absent=True,
        metadata={"package-sha256": sha},
    )
    assert load_repodata(storage, "noarch")[0].get(package.name) is None
    report = publish(channel, [package])
    assert [p.filename for p in report.packages] == [package.name]
    assert load_repodata(storage, "noarch")[0].get(package.name)["sha256"] == sha  # type: ignore[index]
    assert check_channel(channel).ok
    with pytest.raises(AlreadyExists):  # once indexed, the name is taken as before
        publish(channel, [package])


def test_an_unindexed_file_with_other_bytes_is_refused_with_a_hint_to_index(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    package = make_package(tmp_path / "mine", "tool", "2.0", payload="mine")
    make_package(root, "tool", "2.0", payload="theirs")  # in the channel, never indexed
    result = run_cli("publish", str(package), "--to", str(root))
    assert result.returncode == 5
    assert f"condafarm index {parse_channel(str(root)).url}" in result.stderr


def test_check_names_the_reason_index_skips_a_file(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    make_package(root, "good", "1.0")
    (root / "noarch" / "broken-1.0-h0_0.conda").write_bytes(b"not a zip at all")
    first = index_channel(parse_channel(str(root)))
    reason = first.subdirs[0].skipped["broken-1.0-h0_0.conda"]
    again = index_channel(parse_channel(str(root)))  # the skip is remembered: same reason, file not re-read
    assert again.subdirs[0].skipped == {"broken-1.0-h0_0.conda": reason}
    problems = check_channel(parse_channel(str(root))).problems
    assert problems == [f"noarch/broken-1.0-h0_0.conda: not indexed: {reason}; fix or remove the file"]


def test_a_record_clients_cannot_read_is_reported_by_check_and_left_out_of_ls(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    make_package(root, "good", "1.0")
    index_channel(parse_channel(str(root)))
    path = root / "noarch" / "repodata.json"
    raw = json.loads(path.read_bytes())
    record = raw["packages.conda"]["good-1.0-h0_0.conda"]
    raw["packages.conda"]["bad-1.0-h0_0.conda"] = {**record, "name": "bad", "version": "1..0", "depends": ["x >>=1"]}
    path.write_text(json.dumps(raw))
    problems = check_channel(parse_channel(str(root))).problems
    assert any(p.startswith("noarch/bad-1.0-h0_0.conda: clients cannot read its record") for p in problems)
    listed = run_cli("ls", str(root))
    assert listed.returncode == 0 and "good-1.0-h0_0.conda" in listed.stdout and "bad-1.0" not in listed.stdout
