"""provenance: every published package says who published it (or which farm job), the record travels with copy,
goes with remove, never enters repodata, and `info` / `ls --long` show it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.cli import run_cli
from support.packages import make_package
from support.s3 import S3Endpoint

from condafarm import S3Options, copy_packages, index_channel, parse_channel, publish, remove
from condafarm.channel.commit.store import load_repodata
from condafarm.channel.provenance import provenance_key, read_provenance
from condafarm.storage import open_storage

JOB = {
    "DEADLINE_FARM_ID": "farm-0123",
    "DEADLINE_QUEUE_ID": "queue-4567",
    "DEADLINE_JOB_ID": "job-89ab",
    "DEADLINE_SESSION_ID": "session-cdef",
    "DEADLINE_TASK_ID": "task-1",
}


def test_a_publish_by_hand_records_user_host_tools_and_file(tmp_path: Path) -> None:
    channel = parse_channel(str(tmp_path / "channel"))
    package = make_package(tmp_path / "stage", "tool", "1.0")
    publish(channel, [package])
    record = read_provenance(open_storage(channel), "noarch", package.name)
    assert record is not None and record["kind"] == "published"
    assert record["file"]["name"] == package.name and len(record["file"]["sha256"]) == 64
    assert set(record["ran"]) == {"user", "host"} and record["host"]["os"] in {"linux", "darwin", "windows"}
    assert "condafarm" in record["tools"]
    raw = json.loads((tmp_path / "channel" / "noarch" / "repodata.json").read_bytes())
    assert "kind" not in json.dumps(raw)  # repodata records stay what conda and rattler expect


def test_a_publish_in_a_farm_job_records_the_job_and_ls_long_and_info_show_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "channel"
    for name, value in JOB.items():
        monkeypatch.setenv(name, value)
    publish(parse_channel(str(root)), [make_package(tmp_path / "a", "tool", "1.0")])
    for name in JOB:
        monkeypatch.delenv(name)
    make_package(root, "legacy", "1.0")  # put there by another tool: no provenance
    index_channel(parse_channel(str(root)))
    listed = run_cli("ls", "--long", str(root), env={k: v for k, v in os.environ.items() if k not in JOB})
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert lines["tool"].endswith("published by job job-89ab (queue-4567)")
    assert lines["legacy"].endswith("no provenance recorded")
    info = run_cli("info", str(root), "tool")
    assert (
        info.returncode == 0
        and '"deadline_farm": "farm-0123"' in info.stdout
        and '"deadline_task": "task-1"' in info.stdout
    )
    missing = run_cli("info", str(root), "legacy")
    assert "provenance: none recorded" in missing.stdout


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_provenance_travels_with_copy_and_goes_with_remove(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if where == "folder":
        source, destination = parse_channel(str(tmp_path / "dev")), parse_channel(str(tmp_path / "prod"))
    else:
        s3: S3Endpoint = request.getfixturevalue("s3")
        options = S3Options(endpoint_url=s3.url, region="us-east-1", addressing_style="path")
        for bucket in ("prov-dev", "prov-prod"):
            s3.client().create_bucket(Bucket=bucket)
        source = parse_channel("s3://prov-dev/Conda/Default", options)
        destination = parse_channel("s3://prov-prod/Conda/Default", options)
    package = make_package(tmp_path / "stage", "tool", "1.0")
    publish(source, [package])
    original = read_provenance(open_storage(source), "noarch", package.name)
    copy_packages(source, destination, [package.name])
    assert read_provenance(open_storage(destination), "noarch", package.name) == original
    remove(destination, [package.name], yes=True)
    assert open_storage(destination).head(provenance_key("noarch", package.name)) is None
    assert load_repodata(open_storage(destination), "noarch")[0].get(package.name) is None


def test_a_build_records_recipe_sources_host_tools_job_times_and_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import io
    import tarfile

    recipe = tmp_path / "recipe"
    recipe.mkdir()
    archive = recipe / "payload.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"hello from the archive\n"
        info = tarfile.TarInfo("payload/hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    (recipe / "recipe.yaml").write_text(
        'package:\n  name: sourced\n  version: "1.0"\n'
        f"source:\n  path: payload.tar.gz\n  sha256: {sha}\n"
        "build:\n  noarch: generic\n  script:\n    - mkdir -p $PREFIX/share && cp hello.txt $PREFIX/share/\n"
    )
    for name, value in JOB.items():
        monkeypatch.setenv(name, value)
    from condafarm import build_recipe

    channel = parse_channel(str(tmp_path / "channel"))
    report = build_recipe(recipe, channel, build_number="+1")
    record = read_provenance(open_storage(channel), "noarch", report.packages[0].name)
    assert record is not None and record["kind"] == "built"
    assert record["recipe"]["path"].endswith("recipe.yaml") and len(record["recipe"]["sha256"]) == 64
    assert record["sources"] == [{"path": "payload.tar.gz", "sha256": sha}]
    assert record["ran"]["deadline_job"] == "job-89ab" and "session-cdef" in record["log"]
    assert record["started"] <= record["ended"] and "py-rattler-build" in record["tools"]
    (recipe / "recipe.yaml").write_text((recipe / "recipe.yaml").read_text() + "about:\n  summary: changed\n")
    again = build_recipe(recipe, channel, build_number="+1")
    changed = read_provenance(open_storage(channel), "noarch", again.packages[0].name)
    assert changed is not None and changed["recipe"]["sha256"] != record["recipe"]["sha256"]


BAD_PROVENANCE = {
    "ran-is-a-string": b'{"kind": "published", "ran": "ana@ws12"}',
    "ran-is-a-list": b'{"kind": "published", "ran": ["ana"]}',
    "ran-is-a-number": b'{"kind": "published", "ran": 7}',
    "deeply-nested": b'{"ran": {}, "x": ' + b"[" * 50000 + b"]" * 50000 + b"}",
    "nested-within-the-parser": b'{"ran": {}, "x": ' + b"[" * 200 + b"]" * 200 + b"}",
    "not-json": b"\xff\xfe",
    "a-list": b"[]",
    "a-directory": b"",
}


@pytest.mark.parametrize("kind", list(BAD_PROVENANCE))
def test_bad_provenance_is_ignored_with_a_warning_by_ls_info_page_and_index(tmp_path: Path, kind: str) -> None:
    """Provenance is written by whoever can write the channel: ls --long, info, page and the index that keeps
    the page current used to end in an internal error (and index left index.html stale with exit 1)."""
    root = tmp_path / "channel"
    package = make_package(tmp_path / "out", "tool", "1.0")
    publish(parse_channel(str(root)), [package])
    assert run_cli("page", str(root)).returncode == 0
    path = root / provenance_key("noarch", package.name)
    path.unlink()
    if kind == "a-directory":
        path.mkdir()
    else:
        path.write_bytes(BAD_PROVENANCE[kind])
    for args in (["ls", "--long"], ["info", "tool"], ["page"]):
        result = run_cli(*args[:1], str(root), *args[1:])
        assert result.returncode == 0, (args, result.stderr)
        assert "internal error" not in result.stderr
        if args[0] != "page":  # the page reads provenance once per build (.condafarm/page.json), before it went bad
            assert provenance_key("noarch", package.name) in result.stderr, result.stderr  # the warning names it
    (root / "noarch" / "index.html").unlink(missing_ok=True)
    page_before = (root / "index.html").read_bytes()
    publish(parse_channel(str(tmp_path / "other")), [make_package(tmp_path / "out2", "lib", "1.0")])
    (root / "noarch" / "lib-1.0-h0_0.conda").write_bytes(
        (tmp_path / "out2" / "noarch" / "lib-1.0-h0_0.conda").read_bytes()
    )
    result = run_cli("index", str(root))
    assert result.returncode == 0, result.stderr
    assert (root / "index.html").read_bytes() != page_before and b"lib-1.0-h0_0.conda" in (
        root / "index.html"
    ).read_bytes()


def _hostile_provenance(tmp_path: Path) -> Path:
    """A folder channel whose tool package's provenance (a side file anyone who can write the channel can change)
    carries terminal escape sequences: clear the screen, set the window title."""
    root = tmp_path / "channel"
    publish(parse_channel(str(root)), [make_package(tmp_path / "a", "tool", "1.0")])
    evil = {"kind": "built", "ran": {"user": "\x1b[2J\x1b]0;pwned\x07mallory", "host": "ws\x9b1m"}, "note": "\x1b[31m"}
    open_storage(parse_channel(str(root))).put(
        provenance_key("noarch", "tool-1.0-h0_0.conda"), json.dumps(evil).encode()
    )
    return root


def test_info_prints_provenance_as_json_and_ls_long_escapes_terminal_sequences(tmp_path: Path) -> None:
    root = _hostile_provenance(tmp_path)
    listed = run_cli("ls", "--long", str(root))
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout and "\x9b" not in listed.stdout
    assert "built by \\x1b[2J\\x1b]0;pwned\\x07mallory@ws\\x9b1m" in listed.stdout
    info = run_cli("info", str(root), "tool")
    assert info.returncode == 0 and "\x1b" not in info.stdout and "\x9b" not in info.stdout
    block = info.stdout.split("provenance (JSON):\n", 1)[1]
    assert json.loads(block)["ran"]["user"] == "\x1b[2J\x1b]0;pwned\x07mallory"  # valid JSON, braces and all
    as_json = run_cli("info", str(root), "tool", "--json")
    assert as_json.returncode == 0 and "\x1b" not in as_json.stdout
    (package,) = json.loads(as_json.stdout)
    assert package["filename"] == "tool-1.0-h0_0.conda" and package["record"]["name"] == "tool"
    assert package["provenance"]["note"] == "\x1b[31m"


def test_a_provenance_record_of_the_wrong_shape_is_no_internal_error(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    publish(parse_channel(str(root)), [make_package(tmp_path / "a", "tool", "1.0")])
    key = provenance_key("noarch", "tool-1.0-h0_0.conda")
    open_storage(parse_channel(str(root))).put(key, b'{"ran": ["not", "a", "mapping"]}')
    listed = run_cli("ls", "--long", str(root))
    assert listed.returncode == 0, listed.stderr
    assert "no provenance recorded" in listed.stdout and key in listed.stderr  # absent, with a warning naming it
