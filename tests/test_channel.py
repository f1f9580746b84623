from __future__ import annotations

from pathlib import Path

import pytest

from condafarm import S3Options, UsageError, parse_channel


def test_s3_url_splits_bucket_and_prefix() -> None:
    ch = parse_channel("s3://studio-packages/Conda/Default/", S3Options(endpoint_url="http://127.0.0.1:9"))
    assert (ch.bucket, ch.prefix, ch.url) == ("studio-packages", "Conda/Default", "s3://studio-packages/Conda/Default")
    assert ch.key("noarch/repodata.json") == "Conda/Default/noarch/repodata.json"


def test_bucket_root_channel_has_no_prefix() -> None:
    ch = parse_channel("s3://studio-packages")
    assert ch.prefix == "" and ch.key("noarch/x") == "noarch/x"


def test_path_and_file_url_give_the_same_channel(tmp_path: Path) -> None:
    assert parse_channel(str(tmp_path)).path == parse_channel(tmp_path.as_uri()).path == tmp_path


@pytest.mark.parametrize(
    "bad",
    ["", "s3://Bad_Bucket/x", "s3://ab/x", "s3://bucket/a/../b", "ftp://host/x", "https://conda.anaconda.org/x"],
)
def test_bad_locations_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_channel(bad)


def test_s3_options_come_from_environment_and_flags_win() -> None:
    env = {"S3_ENDPOINT_URL": "http://127.0.0.1:1234", "AWS_REGION": "eu-west-1", "S3_FORCE_PATH_STYLE": "true"}
    from_env = S3Options.from_env(env)
    assert from_env == S3Options("http://127.0.0.1:1234", "eu-west-1", "path", None)
    merged = from_env.merged(S3Options(region="us-west-2", addressing_style="virtual"))
    assert (merged.endpoint_url, merged.region, merged.addressing_style) == (
        "http://127.0.0.1:1234",
        "us-west-2",
        "virtual",
    )


def test_aws_standard_endpoint_variable_is_honoured() -> None:
    assert S3Options.from_env({"AWS_ENDPOINT_URL_S3": "https://s3.example"}).endpoint_url == "https://s3.example"


def test_endpoint_must_be_http_url() -> None:
    with pytest.raises(UsageError, match="not an http"):
        S3Options(endpoint_url="127.0.0.1:9000").validated()
