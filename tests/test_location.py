"""`storage.location.classify`, the one reading of a location string: every kind (folder, s3, http, upload
server, other URL, name), the edges where they meet (drive letters, shares, labels, folders that exist here,
`$`, spaces, Unicode), and the callers that ask it (build's `-c`, submit's `--to`, condarc names)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from condafarm.build import _channel_urls
from condafarm.env.request.condarc import is_name
from condafarm.errors import UsageError
from condafarm.farm.submit import destination_channel
from condafarm.storage.location import Kind, Location, classify, parse_channel


@pytest.mark.parametrize(
    ("text", "kind", "scheme"),
    [
        ("/srv/channels/studio", Kind.FOLDER, ""),
        ("./studio", Kind.FOLDER, ""),
        ("../studio", Kind.FOLDER, ""),
        ("~/channels", Kind.FOLDER, ""),
        ("~", Kind.FOLDER, ""),
        ("C:\\Channels\\Studio", Kind.FOLDER, ""),  # one letter is a drive, not a scheme
        ("C:/Channels/Studio", Kind.FOLDER, ""),
        ("\\\\server\\share\\Conda", Kind.FOLDER, ""),
        ("//server/share/Conda", Kind.FOLDER, ""),
        ("channels\\studio", Kind.FOLDER, ""),  # a backslash anywhere: a Windows path
        ("/srv/my channels/Stüdio $SHOW/100%", Kind.FOLDER, ""),
        ("file:///srv/channels/studio", Kind.FOLDER, "file"),
        ("FILE:///srv/channels/studio", Kind.FOLDER, "file"),
        ("file:///C:/Channels/Studio", Kind.FOLDER, "file"),
        ("file://server/share/Conda", Kind.FOLDER, "file"),
        ("s3://studio-packages/Conda/Default", Kind.S3, "s3"),
        ("S3://studio-packages", Kind.S3, "s3"),
        ("s3:studio-packages", Kind.S3, "s3"),  # no `//`: still S3, refused by `channel` for its empty bucket
        ("https://conda.anaconda.org/conda-forge", Kind.HTTP, "https"),
        ("HTTP://127.0.0.1:8000/studio", Kind.HTTP, "http"),
        ("prefix://studio-tools", Kind.SERVER, "prefix"),
        ("anaconda://studio/dev", Kind.SERVER, "anaconda"),
        ("quetz+https://quetz.example/studio", Kind.SERVER, "quetz+https"),
        ("artifactory+http://art.example/api/conda/studio", Kind.SERVER, "artifactory+http"),
        ("prefix:studio-tools", Kind.URL, "prefix"),  # a server needs `://`
        ("ftp://mirror.example/conda", Kind.URL, "ftp"),
        ("oci://ghcr.io/channel-mirrors/conda-forge", Kind.URL, "oci"),
        ("conda-forge", Kind.NAME, ""),
        ("deadline-cloud", Kind.NAME, ""),
        ("defaults", Kind.NAME, ""),
        ("conda-forge/label/dev", Kind.NAME, ""),  # a label, unless such a folder exists here
        ("$STUDIO/channel", Kind.NAME, ""),  # never expanded: a name unless such a folder exists
        ("studio channel", Kind.NAME, ""),
        ("Stüdio", Kind.NAME, ""),
        ("C:relative", Kind.NAME, ""),  # conda reads a drive without a separator as a name
        ("  conda-forge\n", Kind.NAME, ""),
    ],
)
def test_every_kind_of_location_is_told_apart(text: str, kind: Kind, scheme: str) -> None:
    assert classify(text) == Location(kind, text.strip(), scheme)
    assert classify(text).is_url == bool(scheme)


def test_a_slash_name_is_a_folder_only_where_that_folder_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert classify("build/channel").kind is Kind.NAME
    (tmp_path / "build" / "channel").mkdir(parents=True)
    assert classify("build/channel").kind is Kind.FOLDER
    assert classify("build/channel", bare_folders=True).kind is Kind.FOLDER


def test_a_bare_word_stays_a_name_beside_a_folder_of_that_name_unless_folders_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deadline-cloud").mkdir()
    (tmp_path / "studio").write_text("a file, not a channel")
    assert classify("deadline-cloud") == Location(Kind.NAME, "deadline-cloud")  # conda's reading: the job's folder
    assert classify("deadline-cloud", bare_folders=True) == Location(Kind.FOLDER, "deadline-cloud")
    assert classify("studio", bare_folders=True).kind is Kind.NAME  # a file is no folder
    assert classify("conda-forge", bare_folders=True).kind is Kind.NAME


def test_a_channel_is_made_for_folders_names_and_s3_and_refused_for_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    odd = tmp_path / "my channels" / "Stüdio $SHOW"
    assert classify(str(odd)).channel().path == odd
    assert parse_channel(odd.as_uri()).path == odd and parse_channel(odd.as_uri()).url == odd.as_uri()
    assert classify("$STUDIO/channel").channel().path == tmp_path / "$STUDIO" / "channel"  # no expansion
    assert classify("studio").channel().path == tmp_path / "studio"  # a command that writes: a name is a folder
    assert classify("~/x").channel().path == Path.home() / "x"
    s3 = classify("S3://studio-packages/Conda/Default/").channel()
    assert (s3.bucket, s3.prefix, s3.url) == ("studio-packages", "Conda/Default", "s3://studio-packages/Conda/Default")
    for text, message in [
        ("", "channel location is empty"),
        ("   ", "channel location is empty"),
        ("https://conda.anaconda.org/x", "server's upload API"),
        ("prefix://studio-tools", "unsupported scheme 'prefix'"),
        ("ftp://mirror.example/conda", "unsupported scheme 'ftp'"),
        ("s3:studio-packages", "is not a valid S3 bucket name"),
        ("s3://studio-packages/a/../b", "must not contain empty, '.' or '..' parts"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_channel(text)


@pytest.mark.skipif(os.name == "nt", reason="POSIX rules: a share URL names another host")
def test_a_file_url_of_another_host_is_refused_on_posix() -> None:
    assert classify("file://server/share/Conda").kind is Kind.FOLDER
    with pytest.raises(UsageError, match="must be local"):
        classify("file://server/share/Conda").channel()


def test_condarc_resolves_names_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studio").mkdir()
    assert is_name("studio") and is_name("conda-forge/label/dev") and is_name("C:relative")
    assert not any(is_name(c) for c in ("./studio", "s3://b/c", "https://x/y", "file:///x", "prefix://s", "D:\\c"))


def test_build_reads_names_and_urls_as_rattler_build_does_and_folders_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studio").mkdir()
    given = ["conda-forge", "conda-forge/label/dev", "https://conda.example/c", "studio", str(tmp_path), "./studio"]
    with _channel_urls(given, None, None) as urls:
        assert urls == [
            "conda-forge",
            "conda-forge/label/dev",
            "https://conda.example/c",
            (tmp_path / "studio").as_uri(),
            tmp_path.as_uri(),
            (tmp_path / "studio").as_uri(),
        ]
    with pytest.raises(UsageError, match="unsupported scheme 'prefix'"), _channel_urls(["prefix://x"], None, None):
        pass


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("studio", "a folder would vanish"),  # a folder of that name here: what was meant
        ("https://conda.example/c", "a build job publishes to S3"),
        ("prefix://studio-tools", "a build job publishes to S3"),
        ("Testing/../Default", "without empty, '.' or '..' parts"),
        ("C:relative", "backslashes or colons"),
    ],
)
def test_submit_refuses_every_destination_but_s3_and_names(
    to: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studio").mkdir()
    with pytest.raises(UsageError, match=message):
        destination_channel(to, "bucket")
    assert destination_channel("Testing/Nightly", "studio-bucket") == "s3://studio-bucket/Conda/Testing/Nightly"
    assert destination_channel("S3://studio-bucket/x/", None) == "s3://studio-bucket/x"
