"""The S3 client condafarm makes: botocore finds the S3 model without listing every service it knows."""

from __future__ import annotations

import os
from pathlib import Path

import botocore.exceptions
import pytest

from condafarm import S3Options, parse_channel
from condafarm.storage.s3.client import make_client, make_session

CHANNEL = parse_channel(
    "s3://bucket/channel", S3Options(endpoint_url="http://127.0.0.1:9", region="us-east-1", addressing_style="path")
)


def test_making_a_client_lists_only_the_s3_model_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[str] = []
    real = os.listdir

    def counting(path: str | os.PathLike[str] = ".") -> list[str]:
        listed.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "listdir", counting)
    client = make_client(CHANNEL)
    assert client.meta.service_model.service_name == "s3"
    folders = {Path(p).name for p in listed if "botocore" in p or "boto3" in p}
    assert folders <= {"s3", "endpoints", "data", "sdk-default-configuration"}, sorted(folders)[:10]
    assert len(listed) < 20  # botocore's own loader lists ~400 service folders for each model it loads


def test_other_services_and_unknown_ones_are_still_found_or_refused() -> None:
    session = make_session(CHANNEL.s3)
    assert session.client("sts", region_name="us-east-1").meta.service_model.service_name == "sts"
    assert "s3" in session.get_available_services() and len(session.get_available_services()) > 100
    with pytest.raises(botocore.exceptions.UnknownServiceError):
        session.client("no-such-service", region_name="us-east-1")
